import type * as tf from '@tensorflow/tfjs';

/** Milliseconds per forward pass of each model, one per round (see timing-loop.js). */
export function timeModels(tfjs: typeof tf, models: tf.LayersModel[], batch: number, rounds?: number, minBlockMs?: number): Promise<number[][]>;
