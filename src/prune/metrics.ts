/**
 * Cost of a model: parameters and multiply-accumulates per layer, ShrinkBench's
 * compression ratio and theoretical speedup, measured latency and size on disk.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { saveModel } from '../models/io.js';
import type { WeightsDtype } from '../models/quantize.js';
import { layerType } from './layer-types.js';
import { checkModelArgument } from '../arguments.js';

export interface LayerCost {
  name: string;
  className: string;
  outputShape: (number | null)[];
  params: number;
  /** Multiply-accumulates for one input image (conv, depthwise and dense layers; 0 for the rest). */
  macs: number;
}

export interface ModelCost {
  layers: LayerCost[];
  params: number;
  macs: number;
}

/** MACs of one layer for one image; `outputShape` for a standalone layer not connected to a model. */
export function layerMacs(layer: tf.layers.Layer, outputShape = layer.outputShape as (number | null)[]): number {
  return layerType(layer.getClassName())?.macs?.(layer, outputShape) ?? 0;
}

export function modelCost(model: tf.LayersModel): ModelCost {
  checkModelArgument(model, 'modelCost');
  const layers = model.layers.map((layer) => ({
    name: layer.name,
    className: layer.getClassName(),
    outputShape: layer.outputShape as (number | null)[],
    params: layer.countParams(),
    macs: layerMacs(layer),
  }));
  return { layers, params: layers.reduce((s, l) => s + l.params, 0), macs: layers.reduce((s, l) => s + l.macs, 0) };
}

export interface Reduction {
  /** ShrinkBench: total params / remaining params. */
  compressionRatio: number;
  /** ShrinkBench: total MACs / remaining MACs. */
  theoreticalSpeedup: number;
}

export function reduction(original: Pick<ModelCost, 'params' | 'macs'>, pruned: Pick<ModelCost, 'params' | 'macs'>): Reduction {
  return { compressionRatio: original.params / pruned.params, theoreticalSpeedup: original.macs / pruned.macs };
}

export interface Latency {
  batch: number;
  /** Median wall time of one forward pass over the batch. */
  medianMs: number;
  repeats: number;
}

/** Times model.predict on a zero batch: `warmup` untimed calls, then the median of `repeats`. */
export async function measureLatency(
  model: tf.LayersModel,
  batch: number,
  { warmup = 3, repeats = 15, inputShape }: { warmup?: number; repeats?: number; inputShape?: number[] } = {},
): Promise<Latency> {
  const x = tf.zeros([batch, ...timedInputShape(model, inputShape)]);
  const run = async () => {
    const y = model.predict(x, { batchSize: batch }) as tf.Tensor;
    await y.data();
    y.dispose();
  };
  for (let i = 0; i < warmup; i++) await run();
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
  }
  x.dispose();
  times.sort((a, b) => a - b);
  return { batch, medianMs: times[Math.floor(times.length / 2)], repeats };
}

/**
 * The image shape a model is timed at: `inputShape` (height, width,
 * channels) where given, else the model's own; a model that leaves its size
 * open ([?, ?, ?, 3]) needs one.
 */
function timedInputShape(model: tf.LayersModel, inputShape?: number[]): number[] {
  const own = (model.inputs[0].shape as (number | null)[]).slice(1);
  if (inputShape !== undefined) return inputShape;
  if (own.some((d) => d === null))
    throw new RangeError(`measureLatency: the model's input size is open ([${own.map((d) => d ?? '?').join(', ')}]); give inputShape, the size of your images`);
  return own as number[];
}

export interface Speedup {
  batch: number;
  /** Median over the rounds of (original median / pruned median). */
  speedup: number;
  /** Lowest and highest of the rounds' ratios: how much the machine moved while measuring. */
  spread: [number, number];
  /** Medians over all rounds of each model's latency. */
  originalMs: number;
  prunedMs: number;
  rounds: number;
}

/** Rounds of measureSpeedup. */
export const SPEEDUP_ROUNDS = 5;

/**
 * Times the two models in turn, `rounds` times (each round: the original,
 * then the pruned model, `repeats` passes each), so that a machine that
 * slows down or speeds up meanwhile affects both alike.
 */
export async function measureSpeedup(
  original: tf.LayersModel,
  pruned: tf.LayersModel,
  batch: number,
  { rounds = SPEEDUP_ROUNDS, repeats = batch === 1 ? 10 : 3, inputShape }: { rounds?: number; repeats?: number; inputShape?: number[] } = {},
): Promise<Speedup> {
  const ratios: number[] = [];
  const originalMs: number[] = [];
  const prunedMs: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const before = await measureLatency(original, batch, { warmup: round === 0 ? 3 : 1, repeats, inputShape });
    const after = await measureLatency(pruned, batch, { warmup: round === 0 ? 3 : 1, repeats, inputShape });
    originalMs.push(before.medianMs);
    prunedMs.push(after.medianMs);
    ratios.push(before.medianMs / after.medianMs);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return {
    batch,
    speedup: median(ratios),
    spread: [Math.min(...ratios), Math.max(...ratios)],
    originalMs: median(originalMs),
    prunedMs: median(prunedMs),
    rounds,
  };
}

/** Bytes of model.json + weights as saveModel writes them, with the weights stored as `weightsDtype`. */
export async function sizeOnDisk(model: tf.LayersModel, weightsDtype: WeightsDtype = 'float32'): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'autoprune-size-'));
  try {
    await saveModel(model, dir, weightsDtype);
    return readdirSync(dir).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
