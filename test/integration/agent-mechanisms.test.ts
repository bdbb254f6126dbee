/**
 * The mechanisms that make the agent's reward foresee fine-tuning: candidate
 * recovery (least squares, adaptive BatchNorm), the budget across groups and
 * its calibration, the count search, criteria in the observation, and the
 * guarantee split that the reward never sees.
 */
import * as tf from '@tensorflow/tfjs';
import seedrandom from 'seedrandom';
import { beforeAll, describe, expect, it } from 'vitest';
import { PolicyNetwork } from '../../agent/policy.js';
import { costShares, cumulativeBudgets, estimateRecovery } from '../../env/budget.js';
import { type EnvConfig, PruningEnv } from '../../env/pruning-env.js';
import { choleskySolve } from '../../env/recovery.js';
import { selectBackend } from '../../src/backend/backend.js';
import { type Criterion, observedCriteria, registerCriterion } from '../../src/heuristics/criteria.js';
import type { Dataset, Split } from '../../src/data/datasets.js';
import { layerWeight } from '../../src/models/weights.js';
import { buildZooModel } from '../../src/models/zoo.js';
import { execute } from '../../src/prune/executor.js';
import { buildGraph } from '../../src/prune/graph.js';
import { layerMacs } from '../../src/prune/metrics.js';
import { nextCount } from '../../agent/decide-group.js';
import { widthsOf } from '../../src/heuristics/pipeline.js';
import { NO_RECOVERY } from '../agent-helpers.js';
import { randomizeWeights } from '../prune-helpers.js';

function randomSplit(count: number, shape: [number, number, number], classes: number, seed: string): Split {
  const rng = seedrandom(seed);
  const size = shape[0] * shape[1] * shape[2];
  return { images: Float32Array.from({ length: count * size }, () => rng()), labels: Uint8Array.from({ length: count }, (_, i) => i % classes), count };
}

function randomData(shape: [number, number, number], classes: number, counts = { train: 96, validation: 200 }): Dataset {
  return {
    name: 'mnist',
    source: 'synthetic',
    inputShape: shape,
    numClasses: classes,
    train: randomSplit(counts.train, shape, classes, 't'),
    validation: randomSplit(counts.validation, shape, classes, 'v'),
    test: randomSplit(10, shape, classes, 'x'),
  };
}

const envConfig = (overrides: Partial<EnvConfig> = {}): EnvConfig => ({
  rewardSamples: 100,
  evalBatchSize: 100,
  seed: 0,
  tolerance: 1,
  phi: 'filters',
  ...NO_RECOVERY,
  ...overrides,
});

const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

describe('candidate recovery', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it('solves symmetric positive definite systems (Cholesky)', () => {
    // A = [[4, 2], [2, 3]], X = [[1, -1], [2, 0.5]] -> B = A X.
    const x = choleskySolve(Float64Array.from([4, 2, 2, 3]), 2, Float64Array.from([8, -3, 8, -0.5]), 2)!;
    [1, -1, 2, 0.5].forEach((v, i) => expect(x[i]).toBeCloseTo(v, 10));
    expect(choleskySolve(Float64Array.from([1, 2, 2, 1]), 2, Float64Array.from([1, 1]), 1)).toBeUndefined();
  });

  it('least squares folds a removed duplicate filter into the kept one, so the consumer output is unchanged', async () => {
    // Filter 5 is twice filter 0 (relu commutes with the positive scale): the consumer can read it through filter 0.
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [2, 2, 4], filters: 6, kernelSize: 1, activation: 'relu', name: 'producer' }),
        tf.layers.flatten({ name: 'flatten' }),
        tf.layers.dense({ units: 3, activation: 'softmax', name: 'consumer' }),
      ],
    });
    randomizeWeights(model, 5);
    const [kernel, bias] = model.layers[0].getWeights();
    const planted = tf.tidy(() => tf.concat([tf.slice(kernel, [0, 0, 0, 0], [1, 1, 4, 5]), tf.mul(tf.slice(kernel, [0, 0, 0, 0], [1, 1, 4, 1]), 2)], 3));
    const plantedBias = tf.tidy(() => tf.concat([tf.slice(bias, [0], [5]), tf.mul(tf.slice(bias, [0], [1]), 2)]));
    model.layers[0].setWeights([planted, plantedBias]);
    const consumerKernel = model.layers[2].getWeights()[0];
    model.layers[2].setWeights([tf.mul(consumerKernel, 4), model.layers[2].getWeights()[1]]); // sharpen the softmax
    const data = randomData([2, 2, 4], 3);
    const x = tf.tensor4d(data.train.images, [data.train.count, 2, 2, 4]);
    const original = model.predict(x) as tf.Tensor;
    const kept = [0, 1, 2, 3, 4];
    const errorWith = async (reconstruction: boolean) => {
      const recovery = { adaptiveBatchNorm: false, reconstruction, samples: 96, maxReconstructionInputs: 512 };
      const env = await PruningEnv.create(model, data, envConfig({ recovery }));
      env.setGroup(0);
      const pruned = await env.prunedModel(kept);
      const error = tf.tidy(() => maxAbsDiff(pruned.predict(x) as tf.Tensor, original));
      pruned.dispose();
      env.dispose();
      return error;
    };
    const before = tf.memory().numTensors;
    const plain = await errorWith(false);
    const refitted = await errorWith(true);
    expect(tf.memory().numTensors).toBe(before);
    expect(plain).toBeGreaterThan(0.01);
    expect(refitted).toBeLessThan(1e-3);
    tf.dispose([x, original, planted, plantedBias, consumerKernel]);
  });

  it('adaptive BatchNorm re-estimates the statistics after the pruned group on training images and leaves the model untouched', async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [6, 6, 2], filters: 4, kernelSize: 3, padding: 'same', useBias: false, name: 'c1' }),
        tf.layers.batchNormalization({ name: 'bn1' }),
        tf.layers.activation({ activation: 'relu', name: 'r1' }),
        tf.layers.conv2d({ filters: 5, kernelSize: 3, padding: 'same', useBias: false, name: 'c2' }),
        tf.layers.batchNormalization({ name: 'bn2' }),
        tf.layers.activation({ activation: 'relu', name: 'r2' }),
        tf.layers.globalAveragePooling2d({ name: 'gap' }),
        tf.layers.dense({ units: 3, activation: 'softmax', name: 'out' }),
      ],
    });
    randomizeWeights(model, 9);
    const data = randomData([6, 6, 2], 3);
    const originalStats = model
      .getLayer('bn2')
      .getWeights()
      .map((w) => w.dataSync().slice());
    const env = await PruningEnv.create(
      model,
      data,
      envConfig({ recovery: { adaptiveBatchNorm: true, reconstruction: false, samples: data.train.count, maxReconstructionInputs: 512 } }),
    );
    expect(env.setGroup(0).producers).toEqual(['c1']);
    await env.evaluate([1, 0, 1, 0]);
    const pruned = await env.prunedModel([0, 2]);
    // The model being pruned keeps its statistics.
    model
      .getLayer('bn2')
      .getWeights()
      .forEach((w, i) => expect(Array.from(w.dataSync())).toEqual(Array.from(originalStats[i])));
    // The pruned model's bn2 holds the moments of its input over the calibration images.
    const x = tf.tensor4d(data.train.images, [data.train.count, 6, 6, 2]);
    const input = tf.tidy(() => execute(buildGraph(pruned), x, { capture: ['c2'] }).captured.get('c2')!);
    const { mean, variance } = tf.moments(input, [0, 1, 2]);
    const bn2 = pruned.getLayer('bn2');
    expect(maxAbsDiff(layerWeight(bn2, 'moving_mean')!.read(), mean)).toBeLessThan(1e-4);
    expect(maxAbsDiff(layerWeight(bn2, 'moving_variance')!.read(), variance)).toBeLessThan(1e-4);
    expect(maxAbsDiff(layerWeight(bn2, 'moving_mean')!.read(), tf.tensor1d(originalStats[2] as Float32Array))).toBeGreaterThan(1e-3);
    tf.dispose([x, input, mean, variance]);
    pruned.dispose();
    // Moving on and back: the group's recovery still has its calibration images.
    env.setGroup(1);
    env.setGroup(0);
    expect(await env.evaluate([1, 1, 0, 0])).toBeGreaterThanOrEqual(0);
    env.dispose();
  });
});

describe('policy network', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it('frees everything it made: 50 policies built, updated and disposed leave no tensor behind', () => {
    const observation = tf.randomNormal([50, 26], 0, 1, 'float32', 1) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    for (let i = 0; i < 50; i++) {
      const policy = new PolicyNetwork([25, 1], { hidden: 16, learningRate: 0.003, initialKeep: 0.9, entropyBonus: 0 }, i + 1);
      policy.update(observation, [new Uint8Array(50).fill(1), new Uint8Array(50)], [1, -1]);
      expect(policy.probabilities(observation)).toHaveLength(50);
      policy.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
    observation.dispose();
  });
});

describe('budget across groups', () => {
  it('shares b by the MACs each group touches, cumulatively, and gives the last group all of it', () => {
    const model = buildZooModel('lenet5', { inputShape: [28, 28, 1], numClasses: 10, seed: 0 });
    const graph = buildGraph(model);
    const groups = graph.prunableGroups();
    const macs = (name: string) => layerMacs(graph.node(name).layer);
    const touched = [macs('conv1') + macs('conv2'), macs('conv2') + macs('fc1'), macs('fc1') + macs('fc2')];
    const total = touched.reduce((a, b) => a + b, 0);
    const shares = costShares(graph, groups);
    groups.forEach((g, i) => expect(shares.get(g.id)).toBeCloseTo(touched[i] / total, 12));
    const budgets = cumulativeBudgets(1, groups, shares, true);
    expect(budgets[0]).toBeCloseTo(touched[0] / total, 12);
    expect(budgets[1]).toBeCloseTo((touched[0] + touched[1]) / total, 12);
    expect(budgets[2]).toBe(1);
    expect(cumulativeBudgets(1, groups, shares, false)).toEqual([1, 1, 1]);
    model.dispose();
  });

  it('calibrates the recovery from what fine-tuning recovered, within its bounds', () => {
    const config = { initialRecovery: 3, maxRecovery: 20 };
    expect(estimateRecovery([], config, 0.05)).toBe(3);
    // 6 points before fine-tuning became 2 after, 3 became 1: recovery 3.
    expect(
      estimateRecovery(
        [
          { before: 6, after: 2 },
          { before: 3, after: 1 },
        ],
        config,
        0.05,
      ),
    ).toBeCloseTo(3, 12);
    // Fine-tuning recovered everything: the floor keeps the estimate finite, the bound caps it.
    expect(estimateRecovery([{ before: 0.5, after: -0.2 }], config, 0.05)).toBeCloseTo(10, 12);
    expect(estimateRecovery([{ before: 4, after: 0 }], config, 0.05)).toBe(20);
    expect(estimateRecovery([{ before: 0.1, after: 1 }], config, 0.05)).toBe(1);
  });
});

describe('count search along the policy ranking', () => {
  /** Runs the search against a planted rule: a count passes once it keeps at least `threshold` filters. */
  const search = (mode: 'bisect' | 'halve', tighten: boolean, agentCount: number, threshold: number, steps = 8, widths?: number[]) => {
    const tried: number[] = [];
    let [failing, passing, count] = [0, 50, agentCount];
    let best: number | undefined;
    for (let step = 0; step <= steps; step++) {
      tried.push(count);
      const passed = count >= threshold;
      if (passed) [passing, best] = [count, count];
      else failing = count;
      const next = nextCount(mode, tighten, { failing, passing, size: 50, agentPassed: tried[0] >= threshold, lastPassed: passed }, widths);
      if (next === undefined) break;
      count = next;
    }
    return { tried, best };
  };

  it('bisection finds the smallest count within the budget, above or below the agent', () => {
    expect(search('bisect', true, 10, 23).best).toBe(23);
    expect(search('bisect', true, 30, 17).best).toBe(17);
    expect(search('bisect', false, 30, 17)).toEqual({ tried: [30], best: 30 });
  });

  it('halving keeps half of the remaining filters more and stops at the first count within', () => {
    expect(search('halve', true, 10, 23)).toEqual({ tried: [10, 30], best: 30 });
    expect(search('halve', true, 30, 17)).toEqual({ tried: [30], best: 30 });
  });

  it('with a width multiple, every count tried is a multiple or the whole group, and the search ends at the smallest such width within', () => {
    const widths = widthsOf(50, 8);
    expect(widths).toEqual([8, 16, 24, 32, 40, 48, 50]);
    for (const [threshold, expected] of [
      [23, 24],
      [17, 24],
      [49, undefined], // no width below the group's size is within: the group stays whole
      [3, 8],
    ] as const) {
      const { tried, best } = search('bisect', true, 24, threshold, 8, widths);
      expect(best).toBe(expected);
      for (const count of tried) expect(widths).toContain(count);
    }
    expect(search('halve', true, 8, 23, 8, widths)).toEqual({ tried: [8, 32], best: 32 });
  });

  it('the widths of multiple 1 leave the bisection as it was: the ceiling of the bracket midpoint', () => {
    for (let failing = 0; failing < 50; failing++)
      for (let passing = failing + 2; passing <= 50; passing++)
        expect(nextCount('bisect', true, { failing, passing, size: 50, agentPassed: false, lastPassed: false })).toBe(Math.ceil((failing + passing) / 2));
  });
});

describe('observation and splits', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it('appends one standardised column per criterion that can score the group', async () => {
    const model = buildZooModel('lenet5', { inputShape: [28, 28, 1], numClasses: 10, seed: 0 });
    const data = randomData([28, 28, 1], 10, { train: 64, validation: 120 });
    const env = await PruningEnv.create(model, data, envConfig({ observationCriteria: true, criteriaSamples: 32 }));
    env.setGroup(0);
    // conv1: 25 weights + the read norm + l1, l2, fpgm, apoz, mean activation, taylor (no BatchNorm).
    expect(env.observationBlocks()).toEqual([25, 1, 6]);
    expect(env.observation().shape).toEqual([20, 32]);
    const criteria = tf.tidy(() => tf.slice(env.observation(), [0, 26], [20, 6]));
    const { mean, variance } = tf.moments(criteria, 0);
    mean.dataSync().forEach((m) => expect(Math.abs(m)).toBeLessThan(1e-4));
    variance.dataSync().forEach((v) => expect(v).toBeGreaterThan(0.9));
    tf.dispose([criteria, mean, variance]);
    env.dispose();
  });

  it('observes a criterion added to the registry, after the built-ins', async () => {
    // Scores each channel by its index: after standardising, the column rises linearly.
    const byIndex: Criterion = {
      name: 'channel-index',
      needsData: false,
      score: (_, groups) => new Map(groups.map((g) => [g.id, Float32Array.from({ length: g.size }, (_, c) => c)])),
    };
    registerCriterion(byIndex);
    expect(() => registerCriterion({ ...byIndex })).toThrow(/criterion channel-index: a criterion of that name is already registered/);
    expect(() => registerCriterion({ ...byIndex, name: 'l1' })).toThrow(/already registered/);
    expect(observedCriteria().map((c) => c.name)).toEqual(['l1', 'l2', 'fpgm', 'apoz', 'mean-activation', 'taylor', 'bn-scale', 'channel-index']);
    const model = buildZooModel('lenet5', { inputShape: [28, 28, 1], numClasses: 10, seed: 0 });
    const data = randomData([28, 28, 1], 10, { train: 64, validation: 120 });
    const env = await PruningEnv.create(model, data, envConfig({ observationCriteria: true, criteriaSamples: 32 }));
    env.setGroup(0);
    expect(env.observationBlocks()).toEqual([25, 1, 7]);
    const column = tf.tidy(() => tf.slice(env.observation(), [0, 32], [20, 1]).dataSync());
    const steps = Array.from(column)
      .slice(1)
      .map((v, i) => v - column[i]);
    for (const step of steps) expect(step).toBeCloseTo(steps[0], 4);
    expect(steps[0]).toBeGreaterThan(0);
    env.dispose();
  });
});
