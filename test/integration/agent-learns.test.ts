/**
 * Proof that the agent learns: a tiny CNN with planted structure. Filters 0-7
 * are essential (each carries one class); 8-11 are all-zero; 12-15 duplicate
 * filters 0-3 but nothing reads them. The trained agent must drop the useless
 * ones, keep the essential ones, and its mean reward must rise.
 */
import * as tf from '@tensorflow/tfjs';
import seedrandom from 'seedrandom';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_AGENT_CONFIG, trainAgent } from '../../agent/reinforce.js';
import { PruningEnv } from '../../env/pruning-env.js';
import { selectBackend } from '../../src/backend/backend.js';
import type { Dataset, Split } from '../../src/data/datasets.js';
import { NO_RECOVERY } from '../agent-helpers.js';

const CLASSES = 8;
const ESSENTIAL = [0, 1, 2, 3, 4, 5, 6, 7];
const USELESS = [8, 9, 10, 11, 12, 13, 14, 15];

/** Images of 4x4x8 noise; the label is the channel with the largest mean. */
function split(count: number, seed: string): Split {
  const rng = seedrandom(seed);
  const images = Float32Array.from({ length: count * 128 }, () => rng());
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const means = new Float64Array(CLASSES);
    for (let p = 0; p < 16; p++) for (let c = 0; c < CLASSES; c++) means[c] += images[i * 128 + p * 8 + c];
    labels[i] = means.indexOf(Math.max(...means));
  }
  return { images, labels, count };
}

function plantedModel(): tf.LayersModel {
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [4, 4, CLASSES], filters: 16, kernelSize: 1, activation: 'relu', name: 'planted' }),
      tf.layers.globalAveragePooling2d({ name: 'gap' }),
      tf.layers.dense({ units: CLASSES, activation: 'softmax', name: 'classifier' }),
    ],
  });
  const kernel = tf.buffer([1, 1, CLASSES, 16]);
  for (const f of ESSENTIAL) kernel.set(1, 0, 0, f, f); // filter f copies channel f
  for (const f of [12, 13, 14, 15]) kernel.set(1, 0, 0, f - 12, f); // duplicates of filters 0-3
  const dense = tf.buffer([16, CLASSES]);
  for (const f of ESSENTIAL) dense.set(40, f, f); // only the essential filters are read
  model.layers[0].setWeights([kernel.toTensor(), tf.zeros([16])]);
  model.layers[2].setWeights([dense.toTensor(), tf.zeros([CLASSES])]);
  return model;
}

describe('the try-and-learn agent', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it('learns to drop planted useless filters and keep essential ones, deterministically', async () => {
    const data: Dataset = {
      name: 'mnist',
      source: 'synthetic',
      inputShape: [4, 4, CLASSES],
      numClasses: CLASSES,
      train: split(64, 'train'),
      validation: split(600, 'val'),
      test: split(64, 'test'),
    };
    const run = async () => {
      const env = await PruningEnv.create(plantedModel(), data, {
        rewardSamples: 600,
        evalBatchSize: 600,
        seed: 0,
        tolerance: 1,
        phi: 'filters',
        ...NO_RECOVERY,
      });
      expect(env.baseAccuracy).toBe(1);
      env.setGroup(0);
      const result = await trainAgent(env, DEFAULT_AGENT_CONFIG, 7);
      env.dispose();
      return result;
    };
    const result = await run();
    const dropped = USELESS.filter((f) => !result.kept.includes(f));
    const kept = ESSENTIAL.filter((f) => result.kept.includes(f));
    console.log(
      `kept ${result.kept.join(',')} after ${result.iterations.length} iterations; mean reward ${result.iterations[0].meanReward.toFixed(3)} -> ${result.iterations.at(-1)!.meanReward.toFixed(3)}`,
    );
    expect(dropped.length / USELESS.length).toBeGreaterThanOrEqual(0.9);
    expect(kept.length / ESSENTIAL.length).toBeGreaterThanOrEqual(0.9);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const rewards = result.iterations.map((r) => r.meanReward);
    expect(mean(rewards.slice(-5))).toBeGreaterThan(mean(rewards.slice(0, 5)));
    // Seeded: the same run makes the same decisions.
    const again = await run();
    expect(again.kept).toEqual(result.kept);
    expect(again.iterations.map((r) => r.meanReward)).toEqual(rewards);
  });
});
