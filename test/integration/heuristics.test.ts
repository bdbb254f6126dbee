import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend/backend.js';
import { loadDataset, subsetSplit } from '../../src/data/datasets.js';
import {
  bisectLargest,
  DEFAULT_HEURISTIC_CONFIG,
  halvingTo,
  pruneToRatio,
  pruneToTolerance,
  roundPlanUp,
  scheduledRatio,
  searchResolution,
  selectChannels,
} from '../../src/heuristics/pipeline.js';
import {
  candidateThresholds,
  DEFAULT_SENSITIVITY_CONFIG,
  pruneBySensitivity,
  ratiosAtThreshold,
  type SensitivityCurve,
} from '../../src/heuristics/sensitivity.js';
import type { Criterion } from '../../src/heuristics/criteria.js';
import type { ChannelGroup } from '../../src/prune/graph.js';
import { buildGraph } from '../../src/prune/graph.js';
import { evaluateAccuracy, trainModel } from '../../src/train/train.js';
import { join } from 'node:path';
import { Certifier } from '../../src/certify/check.js';
import { holdoutSplits } from '../../src/certify/holdout.js';
import { loadModel, saveModel } from '../../src/models/io.js';
import { modelCost } from '../../src/prune/metrics.js';
import { SILENT_LOG } from '../../src/run/log.js';
import { criterionMethod, finishMethod, type MethodInputs, sensitivityMethod } from '../../src/run/methods.js';
import { tempDir } from '../helpers.js';

const group = (id: number, size: number): ChannelGroup => ({ id, size, producers: [`p${id}`], members: [], prunable: true });

describe('ranking and schedules', () => {
  it('a width multiple rounds each kept count up to a multiple or the whole group, adding the best-scored channels left out', () => {
    const groups = [group(0, 20), group(1, 6)];
    const scores = new Map([
      [0, Float32Array.from({ length: 20 }, (_, i) => (i * 7) % 20)],
      [1, Float32Array.from([5, 4, 3, 2, 1, 0])],
    ]);
    const sizes = new Map([
      [0, 20],
      [1, 6],
    ]);
    for (const ranking of ['local', 'global'] as const) {
      const plan = selectChannels(groups, scores, sizes, 0.6, ranking, 0.05);
      const rounded = roundPlanUp(plan, groups, scores, 8);
      expect(rounded.get(0)!.length % 8 === 0 || rounded.get(0)!.length === 20).toBe(true);
      expect(rounded.get(0)!.length).toBeGreaterThanOrEqual(plan.get(0)!.length);
      expect(rounded.get(0)!.length - plan.get(0)!.length).toBeLessThan(8);
      expect(rounded.get(1)!.length).toBe(6); // smaller than the multiple: the whole group
      for (const c of plan.get(0)!) expect(rounded.get(0)).toContain(c);
      const added = rounded.get(0)!.filter((c) => !plan.get(0)!.includes(c));
      const leftOut = Array.from({ length: 20 }, (_, c) => c).filter((c) => !rounded.get(0)!.includes(c));
      for (const a of added) for (const l of leftOut) expect(scores.get(0)![a]).toBeGreaterThanOrEqual(scores.get(0)![l]);
    }
    expect(roundPlanUp(selectChannels(groups, scores, sizes, 0.6, 'local', 0.05), groups, scores, 1)).toEqual(
      selectChannels(groups, scores, sizes, 0.6, 'local', 0.05),
    );
  });

  it('local ranking removes the same share of every group, keeping the best-scored channels', () => {
    const groups = [group(0, 4), group(1, 10)];
    const scores = new Map([
      [0, Float32Array.from([4, 1, 3, 2])],
      [1, Float32Array.from({ length: 10 }, (_, i) => i)],
    ]);
    const plan = selectChannels(
      groups,
      scores,
      new Map([
        [0, 4],
        [1, 10],
      ]),
      0.5,
      'local',
      0.05,
    );
    expect(plan.get(0)).toEqual([0, 2]);
    expect(plan.get(1)).toEqual([5, 6, 7, 8, 9]);
  });

  it('global ranking compares mean-normalised scores across groups and respects the minimum per group', () => {
    const groups = [group(0, 4), group(1, 4)];
    // Group 1's channels are all weaker than its mean-normalised rival except one.
    const scores = new Map([
      [0, Float32Array.from([1, 1, 1, 1])],
      [1, Float32Array.from([0.1, 0.1, 0.1, 3.7])],
    ]);
    const plan = selectChannels(
      groups,
      scores,
      new Map([
        [0, 4],
        [1, 4],
      ]),
      0.25,
      'global',
      0.05,
    );
    expect(plan.get(0)).toEqual([0, 1, 2, 3]);
    expect(plan.get(1)).toEqual([2, 3]);
    const floor = selectChannels(
      groups,
      scores,
      new Map([
        [0, 4],
        [1, 4],
      ]),
      0.9,
      'global',
      0.5,
    );
    expect(floor.get(1)).toHaveLength(2); // 50% of 4 always kept
  });

  it('global and local ranking remove different channels when groups differ in score spread', () => {
    const groups = [group(0, 4), group(1, 4)];
    // Group 0 has one strong channel and three weak ones; group 1's channels are all alike (and 10x larger, which global ranking must not reward).
    const scores = new Map([
      [0, Float32Array.from([1, 2, 3, 10])],
      [1, Float32Array.from([10, 10.1, 10.2, 10.3])],
    ]);
    const sizes = new Map([
      [0, 4],
      [1, 4],
    ]);
    const local = selectChannels(groups, scores, sizes, 0.5, 'local', 0.05);
    const global = selectChannels(groups, scores, sizes, 0.5, 'global', 0.05);
    expect([local.get(0), local.get(1)]).toEqual([
      [2, 3],
      [2, 3],
    ]);
    expect([global.get(0), global.get(1)]).toEqual([[3], [1, 2, 3]]);
  });

  it('schedules: one-shot, linear iterative steps, and AGP s_t = s_f (1 - (1 - t/T)^3)', () => {
    expect(scheduledRatio('one-shot', 0.6, 1, 1)).toBe(0.6);
    expect([1, 2, 3].map((t) => scheduledRatio('iterative', 0.6, t, 3))).toEqual([0.2, 0.4, 0.6000000000000001].map((x) => expect.closeTo(x, 12)));
    expect(scheduledRatio('agp', 0.6, 1, 3)).toBeCloseTo(0.6 * (1 - (2 / 3) ** 3), 12);
    expect(scheduledRatio('agp', 0.6, 3, 3)).toBeCloseTo(0.6, 12);
  });
});

describe('tolerance search resolution', () => {
  it('is one channel of the largest group, but no finer than 0.01', () => {
    expect(searchResolution([20, 50, 500])).toBe(0.01);
    expect(searchResolution([16, 32, 64])).toBe(1 / 64);
    expect(searchResolution([8, 20])).toBe(1 / 20);
  });

  /** The bisection with a stubbed probe that fits up to `edge`: the values probed, in order. */
  async function probed(edge: number, resolution: number, maxProbes = 12, first?: number) {
    const values: number[] = [];
    const found = await bisectLargest({ low: 0, high: 0.95, first, maxProbes, next: halvingTo(resolution) }, async (ratio) => {
      values.push(ratio);
      return ratio <= edge;
    });
    return { values, found };
  }

  it('bisects until the bracket is below the resolution, within a probe cap', async () => {
    // 0.95 / 2^k < 0.05 first at k = 5: the first probe and five halvings.
    const coarse = await probed(0.3, 0.05);
    expect(coarse.values).toHaveLength(6);
    expect(coarse.values[0]).toBe(0.95);
    const [low, high] = [coarse.found, Math.min(...coarse.values.filter((v) => v > 0.3))];
    expect(high - low).toBeLessThan(0.05);
    expect(high - low).toBeGreaterThanOrEqual(0.025); // one probe fewer would have left it at 0.05 or more
    expect(coarse.found).toBeLessThanOrEqual(0.3);
    // 0.95 / 2^k < 0.01 first at k = 7.
    const fine = await probed(0.3, 0.01);
    expect(fine.values).toHaveLength(8);
    expect(0.3 - fine.found).toBeLessThan(0.01);
    expect((await probed(0.3, 0.01, 3)).values).toHaveLength(3);
    // A model that tolerates the largest ratio needs one probe; one that tolerates nothing ends at 0.
    expect(await probed(1, 0.01)).toEqual({ values: [0.95], found: 0.95 });
    expect((await probed(-1, 0.05)).found).toBe(0);
  });

  it('started low, doubles until a probe fails, then bisects that bracket', async () => {
    const low = await probed(0.07, 0.01, 12, 0.01);
    expect(low.values.slice(0, 4)).toEqual([0.01, 0.02, 0.04, 0.08]);
    expect(low.values.slice(4)).toEqual([0.06, 0.07]); // [0.04, 0.08] halved to the resolution
    expect(low.found).toBe(0.07);
    // Four probes reach 0.04 where halving from the top spends them all above the edge.
    expect((await probed(0.07, 0.01, 4, 0.01)).found).toBe(0.04);
    expect((await probed(0.07, 0.01, 4)).found).toBe(0);
    // Doubling stops at the largest value; a model that tolerates nothing ends at 0 after one probe.
    expect((await probed(1, 0.01, 12, 0.3)).values).toEqual([0.3, 0.6, 0.95]);
    expect(await probed(-1, 0.01, 12, 0.01)).toEqual({ values: [0.01], found: 0 });
  });
});

describe('sensitivity thresholds', () => {
  const curve = (groupId: number, drops: number[]): SensitivityCurve => ({
    groupId,
    producers: [`p${groupId}`],
    size: 10,
    points: drops.map((drop, i) => ({ ratio: (i + 1) / 10, kept: 9 - i, validationAccuracy: 0.9 - drop / 100, drop })),
  });
  // Group 0's curve is not monotone: at 0.3 it loses less than at 0.2.
  const curves = [curve(0, [0, 2, 1, 6]), curve(1, [0.5, 0.5, 3, 9])];

  it('gives each group its largest ratio whose drop is within the threshold', () => {
    expect(ratiosAtThreshold(curves, -1)).toEqual({ 0: 0, 1: 0 });
    expect(ratiosAtThreshold(curves, 0)).toEqual({ 0: 0.1, 1: 0 });
    expect(ratiosAtThreshold(curves, 1)).toEqual({ 0: 0.3, 1: 0.2 });
    expect(ratiosAtThreshold(curves, 9)).toEqual({ 0: 0.4, 1: 0.4 });
  });

  it('keeps only the thresholds that change some group, and more threshold never prunes less', () => {
    const thresholds = candidateThresholds(curves);
    expect(thresholds).toEqual([0, 0.5, 1, 3, 6, 9]); // 2 is left out: group 0 already has 0.3 at 1
    for (let i = 1; i < thresholds.length; i++) {
      const [before, after] = [ratiosAtThreshold(curves, thresholds[i - 1]), ratiosAtThreshold(curves, thresholds[i])];
      for (const id of [0, 1]) expect(after[id]).toBeGreaterThanOrEqual(before[id]);
      expect([0, 1].some((id) => after[id] > before[id])).toBe(true);
    }
  });
});

describe('pruning with fine-tuning', () => {
  // Validation images enough for a bound a few points wide: the searches accept on it.
  const data = loadDataset('mnist', { seed: 0, validationSize: 3000, trainLimit: 2048, testLimit: 200 });
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
    const kept = buildGraph(result.model)
      .prunableGroups()
      .map((g) => g.size);
    expect(kept).toEqual([4, 8, 16]);
    expect(result.steps[1].validationAccuracy).toBeGreaterThan(0.5);
    result.model.dispose();
  });

  it('a width multiple of 8 leaves physically smaller layers whose widths are multiples of 8 or whole', async () => {
    const result = await pruneToRatio(base, data, { ...config, widthMultiple: 8, finetune: { ...config.finetune, epochs: 0 } }, 0.6);
    // Local ranking at 0.6 would keep 3, 6 and 13 of 8, 16 and 32: rounded up to 8, 8 and 16.
    expect(
      buildGraph(result.model)
        .prunableGroups()
        .map((g) => g.size),
    ).toEqual([8, 8, 16]);
    expect(result.model.getLayer(buildGraph(base).prunableGroups()[2].producers[0]).getWeights()[0].shape).toEqual([expect.any(Number), 16]);
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
    expect(
      buildGraph(result.model)
        .prunableGroups()
        .map((g) => g.size),
    ).toEqual([4, 8]);
    expect(result.steps[0].kept).toEqual({ 0: 4 });
    result.model.dispose();
    mixed.dispose();
  });

  it('takes a criterion of your own: the channels it scores highest are the ones kept', async () => {
    // Keeps the last channels of every group: a ranking no built-in criterion gives.
    const lastFirst: Criterion = {
      name: 'last-first',
      needsData: false,
      score: (_ctx, groups) => new Map(groups.map((g) => [g.id, Float32Array.from({ length: g.size }, (_, i) => i)])),
    };
    const result = await pruneToRatio(base, data, { ...config, criterion: lastFirst, finetune: { ...config.finetune, epochs: 0 } }, 0.5);
    const original = buildGraph(base).prunableGroups()[0];
    const kernel = (m: tf.LayersModel) => m.getLayer(original.producers[0]).getWeights()[0];
    const kept = Math.ceil(original.size / 2);
    expect(kernel(result.model).shape.at(-1)).toBe(kept);
    const expected = tf.slice(kernel(base), [0, 0, 0, original.size - kept], [-1, -1, -1, kept]);
    expect(Array.from(kernel(result.model).dataSync())).toEqual(Array.from(expected.dataSync()));
    expected.dispose();
    result.model.dispose();
  });

  it('finds a model within the tolerance on validation data, recording every probe', async () => {
    const tolerance = 3;
    const result = await pruneToTolerance(base, data, { ...config, criterion: 'taylor', ranking: 'global' }, { tolerance, maxRatio: 0.9, maxProbes: 4 });
    expect(result.probes).toHaveLength(result.probes[0].withinTolerance ? 1 : 4);
    expect(result.resolution).toBe(1 / 32); // the largest group (the first dense layer) has 32 channels
    // Accepted on the drop plus the margin certification would add (a split the size of the validation one here), not on the point estimate.
    for (const p of result.probes) {
      expect(p.upperBound).toBeGreaterThan(p.drop);
      expect(p.withinTolerance).toBe(p.upperBound <= tolerance);
    }
    // The accepted probes before the best are kept as models, least pruned first: the path certification walks.
    const accepted = result.probes.filter((p) => p.withinTolerance).map((p) => p.ratio);
    expect(result.path.map((m) => m.label)).toEqual(accepted.slice(0, -1).map((r) => `ratio ${r.toFixed(3)}`));
    for (const { model } of result.path) model.dispose();
    const accuracy = await evaluateAccuracy(result.model, data.validation, data.inputShape);
    expect(accuracy).toBe(result.validationAccuracy);
    expect(100 * (result.baseAccuracy - accuracy)).toBeLessThanOrEqual(tolerance);
    expect(result.ratio).toBeGreaterThan(0);
    expect(result.model.countParams()).toBeLessThan(base.countParams());
    const best = result.probes.filter((p) => p.withinTolerance).reduce((a, b) => (b.ratio > a.ratio ? b : a));
    expect(result.ratio).toBe(best.ratio);
    result.model.dispose();
  });

  it('sensitivity: measures every group alone at every ratio, then prunes the most it can within the tolerance', async () => {
    const tolerance = 3;
    const groups = buildGraph(base).prunableGroups();
    const result = await pruneBySensitivity(base, data, { ...DEFAULT_SENSITIVITY_CONFIG, finetune: config.finetune }, { tolerance, maxProbes: 4 });
    // One row per group and ratio, measured before fine-tuning against the unpruned accuracy.
    expect(result.curves.map((c) => [c.groupId, c.size, c.points.map((p) => p.ratio)])).toEqual(
      groups.map((g) => [g.id, g.size, DEFAULT_SENSITIVITY_CONFIG.ratios]),
    );
    for (const c of result.curves) {
      for (const p of c.points) expect(p.drop).toBeCloseTo(100 * (result.baseAccuracy - p.validationAccuracy), 10);
      expect(c.points.map((p) => p.kept)).toEqual([...c.points.map((p) => p.kept)].sort((a, b) => b - a));
    }
    // The plan at each probe is the threshold's, and the tolerance is judged after fine-tuning.
    expect(result.probes.length).toBeGreaterThanOrEqual(1);
    expect(result.probes.length).toBeLessThanOrEqual(4);
    for (const p of result.probes) {
      expect(p.ratios).toEqual(ratiosAtThreshold(result.curves, p.threshold));
      expect(p.withinTolerance).toBe(p.upperBound <= tolerance);
    }
    for (const { model } of result.path) model.dispose();
    const accuracy = await evaluateAccuracy(result.model, data.validation, data.inputShape);
    expect(accuracy).toBe(result.validationAccuracy);
    expect(100 * (result.baseAccuracy - accuracy)).toBeLessThanOrEqual(tolerance);
    const fitting = result.probes.filter((p) => p.withinTolerance);
    if (fitting.length === 0) {
      expect(result.threshold).toBeUndefined();
      expect(result.model.countParams()).toBe(base.countParams());
    } else {
      expect(result.threshold).toBe(Math.max(...fitting.map((p) => p.threshold)));
      const chosen = fitting.find((p) => p.threshold === result.threshold)!;
      expect(
        buildGraph(result.model)
          .prunableGroups()
          .map((g) => g.size),
      ).toEqual(groups.map((g) => chosen.kept[g.id]));
    }
    result.model.dispose();
  });

  it('sensitivity: measures its curves on the first curveImages of the split, against the unpruned accuracy there, and checks its probes on the whole split', async () => {
    const curveImages = 100;
    const ratios = [0.25, 0.5, 0.75];
    const first = subsetSplit(
      data.validation,
      Array.from({ length: curveImages }, (_, i) => i),
      data.inputShape,
    );
    const curveBase = await evaluateAccuracy(base, first, data.inputShape);
    const result = await pruneBySensitivity(
      base,
      data,
      { ...DEFAULT_SENSITIVITY_CONFIG, ratios, curveImages, finetune: config.finetune },
      { tolerance: 3, maxProbes: 1 },
    );
    for (const c of result.curves)
      for (const p of c.points) {
        expect(p.validationAccuracy * curveImages).toBeCloseTo(Math.round(p.validationAccuracy * curveImages), 6); // a share of 100 images, not of 3,000
        expect(p.drop).toBeCloseTo(100 * (curveBase - p.validationAccuracy), 10);
      }
    expect(result.curves.map((c) => c.points.map((p) => p.ratio))).toEqual(result.curves.map(() => ratios));
    expect(result.baseAccuracy).toBe(await evaluateAccuracy(base, data.validation, data.inputShape));
    expect(result.probes).toHaveLength(1);
    for (const { model } of result.path) model.dispose();
    if (result.threshold !== undefined) expect(result.validationAccuracy).toBe(await evaluateAccuracy(result.model, data.validation, data.inputShape));
    result.model.dispose();
  });

  it('runs a criterion and sensitivity analysis through one interface (PruningMethod), ended alike by finishMethod: certified on images no search read, saved, reported', async () => {
    const { selection, certification } = holdoutSplits(data.validation, { rewardSamples: 0, seed: 0 }, data.inputShape);
    const selectionData = { ...data, validation: selection };
    const certifier = await Certifier.create(base, certification, data.inputShape, { tolerance: 3, confidence: 0.95 });
    const inputs: MethodInputs = {
      settings: { tolerance: 3, confidence: 0.95, seed: 0, finetune: { ...config.finetune, seed: 0 }, probes: 2 },
      selectionData,
      baseline: base,
      unpruned: modelCost(base),
      certifier,
      log: SILENT_LOG,
    };
    for (const method of [criterionMethod('l1', { rankings: ['local'] }), sensitivityMethod]) {
      expect(method.plan(inputs)).toMatch(method.name === 'l1' ? /^l1: bisection to .*, with local ranking$/ : /^sensitivity: each group pruned alone/);
      const search = await method.search(inputs);
      expect(search.path.every((p) => modelCost(p.model).macs >= modelCost(search.final).macs)).toBe(true); // the path is less pruned than the final model
      const saved: string[] = [];
      const dir = tempDir();
      const finished = await finishMethod(search, inputs, {
        finalFinetune: { ...config.finetune, epochs: 1, seed: 999 },
        save: async (m, which) => {
          saved.push(which);
          return saveModel(m, join(dir, which));
        },
        report: {},
      });
      // Certified on the certification split, which no choice read; the certified model saved (and a final one that failed beside it).
      expect(finished.certification!.images).toBe(certification.count);
      expect(saved[0]).toBe('certified');
      expect(finished.report.pruned.macs).toBe(modelCost(await loadModel(finished.modelPath)).macs);
      expect(finished.layers.length).toBeGreaterThan(0);
    }
  });
});
