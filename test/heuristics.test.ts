import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../src/backend/backend.js';
import { loadDataset } from '../src/data/datasets.js';
import { DEFAULT_HEURISTIC_CONFIG, pruneToRatio, pruneToTolerance, scheduledRatio, selectChannels } from '../src/heuristics/pipeline.js';
import type { ChannelGroup } from '../src/prune/graph.js';
import { buildGraph } from '../src/prune/graph.js';
import { evaluateAccuracy, trainModel } from '../src/train/train.js';

const group = (id: number, size: number): ChannelGroup => ({ id, size, producers: [`p${id}`], members: [], prunable: true });

describe('ranking and schedules', () => {
  it('local ranking removes the same share of every group, keeping the best-scored channels', () => {
    const groups = [group(0, 4), group(1, 10)];
    const scores = new Map([[0, Float32Array.from([4, 1, 3, 2])], [1, Float32Array.from({ length: 10 }, (_, i) => i)]]);
    const plan = selectChannels(groups, scores, new Map([[0, 4], [1, 10]]), 0.5, 'local', 0.05);
    expect(plan.get(0)).toEqual([0, 2]);
    expect(plan.get(1)).toEqual([5, 6, 7, 8, 9]);
  });

  it('global ranking compares mean-normalised scores across groups and respects the minimum per group', () => {
    const groups = [group(0, 4), group(1, 4)];
    // Group 1's channels are all weaker than its mean-normalised rival except one.
    const scores = new Map([[0, Float32Array.from([1, 1, 1, 1])], [1, Float32Array.from([0.1, 0.1, 0.1, 3.7])]]);
    const plan = selectChannels(groups, scores, new Map([[0, 4], [1, 4]]), 0.25, 'global', 0.05);
    expect(plan.get(0)).toEqual([0, 1, 2, 3]);
    expect(plan.get(1)).toEqual([2, 3]);
    const floor = selectChannels(groups, scores, new Map([[0, 4], [1, 4]]), 0.9, 'global', 0.5);
    expect(floor.get(1)).toHaveLength(2); // 50% of 4 always kept
  });

  it('schedules: one-shot, linear iterative steps, and AGP s_t = s_f (1 - (1 - t/T)^3)', () => {
    expect(scheduledRatio('one-shot', 0.6, 1, 1)).toBe(0.6);
    expect([1, 2, 3].map((t) => scheduledRatio('iterative', 0.6, t, 3))).toEqual([0.2, 0.4, 0.6000000000000001].map((x) => expect.closeTo(x, 12)));
    expect(scheduledRatio('agp', 0.6, 1, 3)).toBeCloseTo(0.6 * (1 - (2 / 3) ** 3), 12);
    expect(scheduledRatio('agp', 0.6, 3, 3)).toBeCloseTo(0.6, 12);
  });
});

describe('pruning with fine-tuning', () => {
  const data = loadDataset('mnist', { seed: 0, validationSize: 600, trainLimit: 2048, testLimit: 200 });
  let base: tf.LayersModel;

  beforeAll(async () => {
    await selectBackend('wasm');
    const L = tf.layers;
    base = tf.sequential({
      layers: [
        L.conv2d({ inputShape: [28, 28, 1], filters: 8, kernelSize: 3, activation: 'relu', kernelInitializer: tf.initializers.heNormal({ seed: 1 }) }),
        L.maxPooling2d({ poolSize: 2 }),
        L.conv2d({ filters: 16, kernelSize: 3, activation: 'relu', kernelInitializer: tf.initializers.heNormal({ seed: 2 }) }),
        L.maxPooling2d({ poolSize: 2 }),
        L.flatten(),
        L.dense({ units: 32, activation: 'relu', kernelInitializer: tf.initializers.heNormal({ seed: 3 }) }),
        L.dense({ units: 10, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }),
      ],
    });
    await trainModel(base, data, { epochs: 3, batchSize: 32, learningRate: 3e-3, seed: 0, restoreBest: true });
  });

  const config = { ...DEFAULT_HEURISTIC_CONFIG, finetune: { ...DEFAULT_HEURISTIC_CONFIG.finetune, imagesPerEpoch: 512 }, scoringSamples: 256 };

  it('an iterative schedule prunes step by step, keeps surviving weights and leaves the original alone', async () => {
    const before = base.countParams();
    const steps: number[] = [];
    const result = await pruneToRatio(base, data, { ...config, schedule: 'iterative', steps: 2 }, 0.5, (e) => {
      if (e.type === 'step-done') steps.push(e.record.ratio);
    });
    expect(steps).toEqual([0.25, 0.5]);
    expect(base.countParams()).toBe(before);
    const kept = buildGraph(result.model).prunableGroups().map((g) => g.size);
    expect(kept).toEqual([4, 8, 16]);
    expect(result.steps[1].validationAccuracy).toBeGreaterThan(0.5);
    result.model.dispose();
  });

  it('bn-scale prunes the groups followed by BatchNorm and keeps the others whole', async () => {
    const L = tf.layers;
    const mixed = tf.sequential({
      layers: [
        L.conv2d({ inputShape: [28, 28, 1], filters: 8, kernelSize: 3, strides: 2, kernelInitializer: tf.initializers.heNormal({ seed: 5 }) }),
        L.batchNormalization(),
        L.reLU(),
        L.conv2d({ filters: 8, kernelSize: 3, strides: 2, activation: 'relu', kernelInitializer: tf.initializers.heNormal({ seed: 6 }) }),
        L.flatten(),
        L.dense({ units: 10, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 7 }) }),
      ],
    });
    const result = await pruneToRatio(mixed, data, { ...config, criterion: 'bn-scale' }, 0.5);
    expect(buildGraph(result.model).prunableGroups().map((g) => g.size)).toEqual([4, 8]);
    expect(result.steps[0].kept).toEqual({ 0: 4 });
    result.model.dispose();
    mixed.dispose();
  });

  it('finds a model within the tolerance on validation data, recording every probe', async () => {
    const tolerance = 2;
    const result = await pruneToTolerance(base, data, { ...config, criterion: 'taylor', ranking: 'global' }, { tolerance, maxRatio: 0.9, probes: 4 });
    expect(result.probes).toHaveLength(result.probes[0].withinTolerance ? 1 : 4);
    for (const p of result.probes) expect(p.withinTolerance).toBe(p.drop <= tolerance);
    const accuracy = await evaluateAccuracy(result.model, data.validation, data.inputShape);
    expect(accuracy).toBe(result.validationAccuracy);
    expect(100 * (result.baseAccuracy - accuracy)).toBeLessThanOrEqual(tolerance);
    expect(result.ratio).toBeGreaterThan(0);
    expect(result.model.countParams()).toBeLessThan(base.countParams());
    const best = result.probes.filter((p) => p.withinTolerance).reduce((a, b) => (b.ratio > a.ratio ? b : a));
    expect(result.ratio).toBe(best.ratio);
    result.model.dispose();
  });
});
