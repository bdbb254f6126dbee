import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_AGENT_CONFIG, scoreCandidates, trainAgent } from '../../agent/reinforce.js';
import { type EnvConfig, PruningEnv } from '../../env/pruning-env.js';
import { ScoringPool } from '../../env/scoring-pool.js';
import { selectBackend } from '../../src/backend/backend.js';
import { loadDataset } from '../../src/data/datasets.js';
import { loadModel } from '../../src/models/io.js';
import { NO_RECOVERY } from '../agent-helpers.js';
import { ScoringError } from '../../src/errors.js';

const SHIPPED_LENET = 'src/models/pretrained/lenet5-mnist/model.json';

/** Seeded masks of a group of `size` channels, keeping about `keep` of them. */
const masksOf = (size: number, count: number, keep = 0.6) =>
  Array.from({ length: count }, (_, k) => Uint8Array.from({ length: size }, (_, c) => (((c * 7919 + k * 104729) % 1000) / 1000 < keep ? 1 : 0)));

describe('candidate scoring in worker threads', () => {
  const data = loadDataset('mnist', { seed: 0, validationSize: 600, trainLimit: 512, testLimit: 10 });
  const config: EnvConfig = {
    rewardSamples: 300,
    evalBatchSize: 128,
    seed: 0,
    tolerance: 1,
    phi: 'flops',
    ...NO_RECOVERY,
    recovery: { adaptiveBatchNorm: true, reconstruction: true, samples: 64, maxReconstructionInputs: 1024 },
  };
  let pool: ScoringPool;

  beforeAll(async () => {
    // The main thread as a user's process runs it (two kernel threads), the workers on one each.
    await selectBackend('wasm', { threads: 2 });
    pool = ScoringPool.start(2);
  });
  afterAll(() => pool.destroy());

  it('scores masks exactly as the main thread, following the group and the network as they change', async () => {
    const env = await PruningEnv.create(await loadModel(SHIPPED_LENET), data, config);
    for (const groupId of [0, 2]) {
      const group = env.setGroup(groupId);
      const masks = masksOf(group.size, 5);
      env.scoreWith(undefined);
      const here = await env.evaluateAll(masks);
      env.scoreWith(pool);
      const there = await env.evaluateAll(masks);
      expect(there).toEqual(here);
      expect(new Set(here).size).toBeGreaterThan(1); // the masks differ in what they cost
    }
    // A new network (a decided group): the workers rebuild from it.
    const pruned = await env.prunedModel(Array.from({ length: 10 }, (_, c) => c));
    env.replaceModel(pruned);
    const group = env.setGroup(1);
    const masks = masksOf(group.size, 4);
    const there = await env.evaluateAll(masks);
    env.scoreWith(undefined);
    expect(there).toEqual(await env.evaluateAll(masks));
    env.dispose();
  });

  it('races candidates: every one on the first batches, the better half by reward on the rest, the same in workers as here', async () => {
    // Without recovery: ranges and racing do not touch it, and each candidate costs a fifth.
    const env = await PruningEnv.create(await loadModel(SHIPPED_LENET), data, { ...config, ...NO_RECOVERY });
    const group = env.setGroup(1);
    const masks = masksOf(group.size, 5, 0.5);
    const full = await env.evaluateAll(masks);
    // 300 reward images: the first 128 (one batch of 128) and the other 172.
    const head = await env.evaluateAll(masks, { from: 0, to: 128 });
    const tail = await env.evaluateAll(masks, { from: 128, to: 300 });
    for (const [k, accuracy] of full.entries()) expect((head[k] * 128 + tail[k] * 172) / 300).toBeCloseTo(accuracy, 12);
    await expect(env.evaluateAll(masks, { from: 100, to: 300 })).rejects.toThrow(/do not start an evaluation batch of 128/);

    const race = { enabled: true, firstImages: 100, audit: true };
    const raced = await scoreCandidates(env, masks, race);
    const byReward = [0, 1, 2, 3, 4].sort((a, b) => env.reward(head[b], masks[b]) - env.reward(head[a], masks[a]) || a - b);
    for (const k of byReward.slice(0, 3)) expect(raced.accuracies[k]).toBeCloseTo(full[k], 12);
    for (const k of byReward.slice(3)) expect(raced.accuracies[k]).toBe(head[k]);
    expect(raced.fullAccuracies!.map((a, k) => a - full[k]).every((d) => Math.abs(d) < 1e-12)).toBe(true);
    expect(raced.imagesScored).toBe(5 * 128 + 5 * 172); // the audit scores every candidate on the rest
    expect((await scoreCandidates(env, masks, { ...race, audit: false })).imagesScored).toBe(5 * 128 + 3 * 172);
    expect(await scoreCandidates(env, masks, { ...race, enabled: false })).toEqual({ accuracies: full, imagesScored: 5 * 300 });
    expect((await scoreCandidates(env, masks, { ...race, firstImages: 300 })).imagesScored).toBe(5 * 300); // the whole subset: no race

    env.scoreWith(pool);
    expect(await scoreCandidates(env, masks, race)).toEqual(raced);
    env.dispose();
  });

  it('gives the agent the same search, iteration by iteration, as scoring in the main thread', async () => {
    const search = async (scorer: ScoringPool | undefined) => {
      const env = await PruningEnv.create(await loadModel(SHIPPED_LENET), data, config);
      env.setGroup(0);
      env.scoreWith(scorer);
      const result = await trainAgent(env, { ...DEFAULT_AGENT_CONFIG, maxIterations: 4, minIterations: 0, samplesPerIteration: 4 }, 3);
      env.dispose();
      return { probabilities: Array.from(result.probabilities), iterations: result.iterations.map(({ seconds: _, ...rest }) => rest) };
    };
    expect(await search(pool)).toEqual(await search(undefined));
  });

  it('leaves no tensor or wasm memory behind in a worker over 1000 candidates', async () => {
    // A tiny BN model, recovered as candidates are (adaptive BN, least squares).
    const input = tf.input({ shape: [28, 28, 1] });
    let x = tf.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2 }).apply(input) as tf.SymbolicTensor;
    x = tf.layers.reLU().apply(tf.layers.batchNormalization().apply(x)) as tf.SymbolicTensor;
    x = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2 }).apply(x) as tf.SymbolicTensor;
    const output = tf.layers.dense({ units: 10, activation: 'softmax' }).apply(tf.layers.flatten().apply(x)) as tf.SymbolicTensor;
    const single = ScoringPool.start(1);
    try {
      const env = await PruningEnv.create(tf.model({ inputs: input, outputs: output }), data, { ...config, rewardSamples: 20 });
      env.setGroup(0);
      env.scoreWith(single);
      await env.evaluateAll(masksOf(6, 2)); // the worker builds its environment
      const before = await single.memory();
      for (let i = 0; i < 100; i++) await env.evaluateAll(masksOf(6, 10, 0.3 + (i % 5) / 10));
      expect(await single.memory()).toEqual(before);
      // A new state (the group set again): the worker rebuilds its environment and frees the old one.
      env.setGroup(0);
      await env.evaluateAll(masksOf(6, 2));
      expect((await single.memory()).tensors).toBe(before.tensors);
      env.dispose();
    } finally {
      await single.destroy();
    }
  });

  it('reports a failing worker as one error naming the way out', async () => {
    const env = await PruningEnv.create(await loadModel(SHIPPED_LENET), data, config);
    env.setGroup(0);
    const broken = {
      score: (state: Parameters<ScoringPool['score']>[0], masks: ArrayLike<number>[]) => pool.score({ ...state, version: 'broken', topology: {} }, masks),
    };
    env.scoreWith(broken);
    const failure = env.evaluateAll(masksOf(20, 2));
    await expect(failure).rejects.toThrow(ScoringError);
    await expect(failure).rejects.toThrow(/^a candidate-scoring worker failed: .+ \(--workers 1 scores in the main thread\)$/);
    env.dispose();
  });
});
