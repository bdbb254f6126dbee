import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { PruningEnv } from '../../env/pruning-env.js';
import { ScoringPool } from '../../env/scoring-pool.js';
import { phi, psi, reward } from '../../env/reward.js';
import { selectBackend } from '../../src/backend/backend.js';
import { loadDataset } from '../../src/data/datasets.js';
import { cloneModel } from '../../src/models/io.js';
import { buildZooModel } from '../../src/models/zoo.js';
import { pruneModel } from '../../src/prune/surgery.js';
import { trainModel } from '../../src/train/train.js';
import { NO_RECOVERY } from '../agent-helpers.js';
import { randomizeWeights, randomPlan } from '../prune-helpers.js';

describe('reward', () => {
  it('is psi * phi with psi = (b - (p - p_hat)) / b and phi = log(N / kept)', () => {
    // Accuracies are fractions, the tolerance b is in points.
    expect(psi({ baseAccuracy: 0.99, accuracy: 0.99 }, 1)).toBe(1);
    expect(psi({ baseAccuracy: 0.99, accuracy: 0.98 }, 1)).toBeCloseTo(0, 12);
    expect(psi({ baseAccuracy: 0.99, accuracy: 0.97 }, 2)).toBeCloseTo(0, 12);
    expect(psi({ baseAccuracy: 0.99, accuracy: 0.96 }, 1)).toBeCloseTo(-2, 12);
    expect(phi({ baseAccuracy: 0, accuracy: 0, total: 20, kept: 5 }, 'filters')).toBeCloseTo(Math.log(4), 12);
    expect(phi({ baseAccuracy: 0, accuracy: 0, total: 20, kept: 20 }, 'filters')).toBe(0);
    expect(reward({ baseAccuracy: 0.99, accuracy: 0.985, total: 50, kept: 10 }, { tolerance: 1, phi: 'filters' })).toBeCloseTo(0.5 * Math.log(5), 12);
    expect(reward({ baseAccuracy: 0.99, accuracy: 0.97, total: 50, kept: 10 }, { tolerance: 1, phi: 'filters' })).toBeCloseTo(-Math.log(5), 12);
    expect(reward({ baseAccuracy: 0.99, accuracy: 0.99, total: 50, kept: 10, macs: { total: 300, pruned: 100 } }, { tolerance: 1, phi: 'flops' })).toBeCloseTo(
      Math.log(3),
      12,
    );
  });
});

/** How many variables named "kernel" tfjs-layers has registered (it numbers repeats: kernel, kernel_1, ...); makes one more. */
function kernelNamesTaken(): number {
  const value = tf.zeros([1]);
  const probe = new tf.LayerVariable(value, 'float32', 'kernel');
  value.dispose();
  probe.dispose();
  return Number(/_(\d+)$/.exec(probe.name)?.[1] ?? 0);
}

describe('pruning environment', () => {
  const data = loadDataset('mnist', { seed: 0, validationSize: 700, trainLimit: 1024, testLimit: 10 });
  const config = { rewardSamples: 400, evalBatchSize: 128, seed: 0, tolerance: 1, phi: 'filters' as const, ...NO_RECOVERY };

  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it('evaluates candidates by the fast cached path exactly as the physically pruned whole model (LeNet-5)', async () => {
    const model = buildZooModel('lenet5', { inputShape: [28, 28, 1], numClasses: 10, seed: 0 });
    await trainModel(model, data, { epochs: 1, batchSize: 64, learningRate: 2e-3, seed: 0, restoreBest: false });
    const env = await PruningEnv.create(await cloneModel(model), data, config);
    expect(env.baseAccuracy).toBe(await env.modelAccuracy(model));
    expect(env.baseAccuracy).toBeGreaterThan(0.7);
    const plan = randomPlan(env.graph, 'env', 0.4);
    for (const group of env.graph.prunableGroups()) {
      env.setGroup(group.id);
      const mask = Array.from({ length: group.size }, (_, c) => (plan.get(group.id)!.includes(c) ? 1 : 0));
      const before = tf.memory().numTensors;
      const fast = await env.evaluate(mask);
      expect(tf.memory().numTensors).toBe(before);
      const whole = await pruneModel(env.graph, new Map([[group.id, plan.get(group.id)!]]));
      expect(fast).toBe(await env.modelAccuracy(whole));
      expect(fast).toBeLessThan(env.baseAccuracy);
      whole.dispose();
      expect(env.observation().shape).toEqual([group.size, group.id === 2 ? 801 : group.id === 1 ? 501 : 26]);
    }
    env.dispose();
  });

  it('keeps the activations in the backend, on the host or nowhere by the cache limits, with the same scores and no tensor left behind', async () => {
    const model = buildZooModel('resnet-small', { inputShape: [28, 28, 1], numClasses: 10, seed: 0 });
    randomizeWeights(model, 5);
    const scores = new Map<string, number[]>();
    for (const [place, cacheLimits] of [
      ['backend', undefined],
      ['host', { backend: 0, host: 2 ** 30 }],
      ['none', { backend: 0, host: 0 }],
    ] as const) {
      const env = await PruningEnv.create(await cloneModel(model), data, { ...config, rewardSamples: 150, cacheLimits });
      const tensors = tf.memory().numTensors;
      const here: number[] = [];
      // The stem's group, a residual stage's and the last: the cache's frontier differs in each.
      const groups = env.graph.prunableGroups();
      for (const group of [groups[0], groups[3], groups[groups.length - 1]]) {
        env.setGroup(group.id);
        expect(env.activationCache.place).toBe(place);
        const mask = Array.from({ length: group.size }, (_, c) => (c % 3 === 0 ? 0 : 1));
        here.push(await env.evaluate(mask));
      }
      scores.set(place, here);
      env.dispose();
      expect(tf.memory().numTensors).toBeLessThanOrEqual(tensors);
    }
    expect(scores.get('host')).toEqual(scores.get('backend'));
    expect(scores.get('none')).toEqual(scores.get('backend'));
    model.dispose();
  });

  it('leaves no tensor or backend buffer behind over 1000 candidate evaluations with recovery (adaptive BN, least squares)', async () => {
    const input = tf.input({ shape: [28, 28, 1] });
    let x = tf.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2, name: 'c1' }).apply(input) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization({ name: 'bn1' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
    x = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, name: 'c2' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization({ name: 'bn2' }).apply(x) as tf.SymbolicTensor;
    const output = tf.layers.dense({ units: 10, activation: 'softmax' }).apply(tf.layers.flatten().apply(tf.layers.reLU().apply(x))) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: output });
    const recovering = {
      ...config,
      rewardSamples: 100,
      recovery: { adaptiveBatchNorm: true, reconstruction: true, samples: 64, maxReconstructionInputs: 512 },
    };
    const env = await PruningEnv.create(model, data, recovering);
    env.setGroup(env.graph.prunableGroups()[0].id);
    await env.evaluate([1, 0, 1, 0, 1, 0]); // first call: lazily built caches
    const [tensors, buffers, names] = [tf.memory().numTensors, tf.backend().numDataIds(), kernelNamesTaken()];
    for (let i = 0; i < 1000; i++) await env.evaluate(Array.from({ length: 6 }, (_, c) => ((i >> c) & 1) | (c === i % 6 ? 1 : 0)));
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.backend().numDataIds()).toBe(buffers);
    // tfjs-layers keeps the name of every LayerVariable ever made (bench/results/heap-drift.md): candidates add none.
    expect(kernelNamesTaken()).toBe(names + 1);
    env.dispose();
  }, 120_000);

  it("scores by agreement with the unpruned model's answers when asked: 1 for the unpruned network, the share of answers kept for a pruned one", async () => {
    const model = buildZooModel('lenet5', { inputShape: [28, 28, 1], numClasses: 10, seed: 0 });
    await trainModel(model, data, { epochs: 1, batchSize: 64, learningRate: 2e-3, seed: 0, restoreBest: false });
    const env = await PruningEnv.create(await cloneModel(model), data, { ...config, rewardScore: 'agreement' });
    const byAccuracy = await PruningEnv.create(await cloneModel(model), data, config);
    expect(env.baseAccuracy).toBe(1);
    expect(byAccuracy.baseAccuracy).toBeLessThan(1);
    const group = env.graph.prunableGroups()[1];
    env.setGroup(group.id);
    const mask = Array.from({ length: group.size }, (_, c) => (c % 3 === 0 ? 1 : 0));
    const agreement = await env.evaluate(mask);
    // By hand: the pruned whole model's answers against the unpruned one's, on the same reward images.
    const pruned = await env.prunedModel(mask.flatMap((m, c) => (m === 1 ? [c] : [])));
    const { images, inputShape } = env.rewardData;
    const answers = (m: tf.LayersModel) =>
      tf.tidy(() => (m.predict(tf.tensor4d(images, [images.length / 784, ...inputShape])) as tf.Tensor).argMax(-1).dataSync());
    const [before, after] = [answers(model), answers(pruned)];
    expect(agreement).toBeCloseTo(before.filter((a, i) => a === after[i]).length / before.length, 10);
    expect(agreement).toBeLessThan(1);
    for (const e of [env, byAccuracy]) {
      e.model.dispose();
      e.dispose();
    }
    pruned.dispose();
    model.dispose();
  });

  it('scores by kl fitness when asked: 1 for the unpruned network, the mean of exp(-KL) from its probabilities for a pruned one; in ranges and in a worker alike', async () => {
    const model = buildZooModel('lenet5', { inputShape: [28, 28, 1], numClasses: 10, seed: 0 });
    await trainModel(model, data, { epochs: 1, batchSize: 64, learningRate: 2e-3, seed: 0, restoreBest: false });
    const env = await PruningEnv.create(await cloneModel(model), data, { ...config, rewardScore: 'kl' });
    expect(env.baseAccuracy).toBe(1);
    const group = env.graph.prunableGroups()[1];
    env.setGroup(group.id);
    const mask = Array.from({ length: group.size }, (_, c) => (c % 3 === 0 ? 1 : 0));
    const fitness = await env.evaluate(mask);
    // By hand: KL(unpruned || pruned) per image from the two whole models' probabilities.
    const pruned = await env.prunedModel(mask.flatMap((m, c) => (m === 1 ? [c] : [])));
    const { images, inputShape } = env.rewardData;
    const probabilities = (m: tf.LayersModel) =>
      tf.tidy(() => (m.predict(tf.tensor4d(images, [images.length / 784, ...inputShape])) as tf.Tensor).arraySync() as number[][]);
    const [r, q] = [probabilities(model), probabilities(pruned)];
    const clip = (v: number) => Math.min(1, Math.max(1e-7, v));
    const byHand = r.map((row, i) => Math.exp(-row.reduce((kl, p, c) => kl + clip(p) * (Math.log(clip(p)) - Math.log(clip(q[i][c]))), 0)));
    expect(fitness).toBeCloseTo(byHand.reduce((a, b) => a + b, 0) / byHand.length, 4);
    expect(fitness).toBeLessThan(1);
    // Ranges add up to the whole (racing), and a scoring worker gets the reference probabilities too.
    const count = env.rewardImageCount;
    const first = await env.evaluate(mask, { from: 0, to: 128 });
    const rest = await env.evaluate(mask, { from: 128, to: count });
    expect((128 * first + (count - 128) * rest) / count).toBeCloseTo(fitness, 10);
    const pool = ScoringPool.start(1);
    env.scoreWith(pool);
    expect(await env.evaluate(mask)).toBeCloseTo(fitness, 10);
    await pool.destroy();
    env.model.dispose();
    env.dispose();
    pruned.dispose();
    model.dispose();
  }, 120_000);

  it('handles residual groups and the FLOPs reward on resnet-small', async () => {
    const model = buildZooModel('resnet-small', { inputShape: [28, 28, 1], numClasses: 10, seed: 0 });
    randomizeWeights(model, 3);
    const env = await PruningEnv.create(model, data, { ...config, rewardSamples: 200, phi: 'flops' });
    const group = env.setGroup(3); // stage 2: two convs and a projection added together
    expect(group.producers).toHaveLength(3);
    const plan = randomPlan(env.graph, 'res', 0.5);
    const mask = Array.from({ length: group.size }, (_, c) => (plan.get(3)!.includes(c) ? 1 : 0));
    const whole = await pruneModel(env.graph, new Map([[3, plan.get(3)!]]));
    expect(await env.evaluate(mask)).toBe(await env.modelAccuracy(whole));
    const { modelCost } = await import('../../src/prune/metrics.js');
    expect(env.macsWith(mask)).toBe(modelCost(whole).macs);
    expect(env.reward(env.baseAccuracy, mask)).toBeCloseTo(Math.log(modelCost(env.model).macs / modelCost(whole).macs), 10);
    expect(await env.evaluate(new Array(group.size).fill(0))).toBe(0.1); // an empty group scores chance level
    whole.dispose();
    env.dispose();
  });
});
