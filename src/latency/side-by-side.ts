/**
 * Measured time, the verdict's measure: the unpruned model and every pruned
 * one timed in the same alternated rounds on the target, so that the machine
 * moving meanwhile moves them all; each model's speedup is the median over
 * the rounds of (unpruned / pruned), with the lowest and highest round.
 */
import type * as tf from '@tensorflow/tfjs';
import type { LatencyTarget } from './target.js';
import { timed } from '../phases.js';

export interface MeasuredTime {
  batch: number;
  /** Median milliseconds per forward pass over the rounds. */
  ms: number;
  /** Median over the rounds of the unpruned model's time over this one's. */
  speedup: number;
  /** The lowest and highest round's ratio: how much the machine moved. */
  spread: [number, number];
}

/** One model's times on a target. */
export interface ModelTimes {
  target: string;
  batches: MeasuredTime[];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Times `unpruned` and `models` together at each batch size; returns the unpruned model's and each model's times. */
export const timeSideBySide = (...args: Parameters<typeof timeTogether>) => timed('latency', () => timeTogether(...args));

async function timeTogether(
  unpruned: tf.LayersModel,
  models: tf.LayersModel[],
  target: LatencyTarget,
  batches: number[],
  rounds = 9,
): Promise<{ unpruned: ModelTimes; models: ModelTimes[] }> {
  const perBatch: MeasuredTime[][] = [];
  for (const batch of batches) {
    // Blocks of 100 ms: long enough that a scheduler's hiccup is a small part of one.
    const samples = await target.time([unpruned, ...models], batch, { rounds, minBlockMs: 100 });
    const times = samples.map((s, i) => {
      const ratios = s.map((ms, round) => samples[0][round] / ms);
      return { batch, ms: median(s), speedup: i === 0 ? 1 : median(ratios), spread: [Math.min(...ratios), Math.max(...ratios)] as [number, number] };
    });
    perBatch.push(times);
  }
  const of = (i: number): ModelTimes => ({ target: target.description, batches: perBatch.map((times) => times[i]) });
  return { unpruned: of(0), models: models.map((_, i) => of(i + 1)) };
}

/** The speedup at `batch`, if measured. */
export const speedupAt = (times: ModelTimes | undefined, batch: number) => times?.batches.find((b) => b.batch === batch)?.speedup;
