import type * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend/backend.js';
import { parsePruneConfig, type PruneConfig } from '../../src/run/config.js';
import { estimateAgentRun, estimateMethodRow, fitToBudget, type RunEstimate } from '../../src/run/estimate.js';
import { loadDataset } from '../../src/data/datasets.js';
import { buildZooModel } from '../../src/models/zoo.js';
import { buildGraph } from '../../src/prune/graph.js';
import { ConfigError } from '../../src/errors.js';

/** A run whose time is linear in its settings: a second per candidate image, per fine-tuning image and per probe. */
function linearEstimate(c: PruneConfig): RunEstimate {
  const search = c.agent.maxIterations * c.agent.samplesPerIteration * c.rewardSamples * 1e-3;
  const finetunes = (c.relaxSteps + 1 + c.fallbackSteps) * (c.finetune.imagesPerEpoch ?? 60_000) * 1e-3 + (c.finalFinetune.imagesPerEpoch ?? 60_000) * 1e-3;
  const total = search + finetunes;
  return {
    search: [search / 2, search],
    finetunes: [finetunes, finetunes],
    checks: [0, 0],
    total: [total / 2, total],
    peakMemory: 1e8,
    costs: { forwardPerImage: 1e-3, trainBatch: 0.1, candidate: { groupId: 0, forwardPerImage: 1e-3, recovery: 0 }, seconds: 1 },
  };
}

describe('fitToBudget', () => {
  const config = parsePruneConfig({ agent: { minIterations: 50, maxIterations: 250 }, rewardSamples: 1000 });

  it('keeps the settings when the estimate fits', () => {
    const fitted = fitToBudget(linearEstimate, config, 1e6, 60_000);
    expect(fitted.config).toBe(config);
    expect(fitted.changes).toEqual(['the settings as given']);
  });

  it('scales the search first, then the reward subset, then the fine-tunes, and fits the high end', () => {
    const searchOnly = fitToBudget(linearEstimate, config, 1000, 60_000);
    // Fewer iterations fit: nothing else changes.
    expect(searchOnly.config.agent.maxIterations).toBeLessThan(250);
    expect(searchOnly.config.rewardSamples).toBe(1000);
    expect(searchOnly.config.finetune).toEqual(config.finetune);
    expect(searchOnly.estimate.total[1]).toBeLessThanOrEqual(1000);
    const tight = fitToBudget(linearEstimate, config, 150, 60_000);
    expect(tight.config.agent).toMatchObject({ minIterations: 10, maxIterations: 10 });
    expect(tight.config.rewardSamples).toBe(256);
    expect(tight.config.finetune.imagesPerEpoch).toBeLessThan(60_000);
    expect(tight.estimate.total[1]).toBeLessThanOrEqual(150);
    expect(tight.changes[0]).toBe('agent.minIterations 50 -> 10');
    expect(tight.changes).toContain(`finetune.imagesPerEpoch all -> ${tight.config.finetune.imagesPerEpoch}`);
  });

  it('refuses a budget even the cheapest settings miss, saying what would fit', () => {
    expect(() => fitToBudget(linearEstimate, config, 5, 60_000)).toThrow(ConfigError);
    expect(() => fitToBudget(linearEstimate, config, 5, 60_000)).toThrow(
      /^timeBudget 5s: the cheapest run its rule allows \(agent\.minIterations 50 -> 10, .*fallbackSteps 2 -> 1\) is estimated time .*; give at least \d+s$/,
    );
  });
});

describe('a compare row, estimated from timed steps', () => {
  // Unit costs: a second per forward image and per training batch, so each part's seconds count passes and batches.
  const costs = { forwardPerImage: 1, trainBatch: 1, candidate: { groupId: 0, forwardPerImage: 1, recovery: 0 }, seconds: 0 };
  const data = loadDataset('mnist', { seed: 0, validationSize: 1000, trainLimit: 640, testLimit: 100 });
  let baseline: tf.LayersModel;
  let groups: number;
  beforeAll(async () => {
    await selectBackend('wasm');
    baseline = buildZooModel('lenet5', { inputShape: data.inputShape, numClasses: 10, seed: 0 });
    groups = buildGraph(baseline).prunableGroups().length;
  });
  const config = parsePruneConfig({ finetune: { epochs: 1, batchNormImages: 0 }, certificationSamples: 500 });

  it("costs a probe its fine-tune only: the check takes the fine-tune's last read of the selection split", () => {
    const row = estimateMethodRow('criterion', baseline, data, config, costs, 1);
    const untuned = estimateMethodRow('criterion', baseline, data, { ...config, finetune: { ...config.finetune, epochs: 0 } }, costs, 1);
    // A probe per ranking: 10 batches and one pass over the 500 selection images, or that pass alone without fine-tuning.
    expect(row.search).toEqual([2 * (10 + 500), 2 * (10 + 500)]);
    expect(untuned.search).toEqual([2 * 500, 2 * 500]);
  });

  it('plans, started low, for doubling up to the top and bisecting as far: twice the probes of halving from it, less one', () => {
    // The largest LeNet-5 group has 120 channels: resolution 0.01, 0.95 halved to it in 7 steps after the first probe.
    const high = (searchStart: PruneConfig['searchStart']) => estimateMethodRow('criterion', baseline, data, { ...config, searchStart }, costs, 30).search[1];
    expect(high('top')).toBe(2 * 8 * (10 + 500));
    expect(high('low')).toBe(2 * 15 * (10 + 500));
  });

  it("counts each scoring worker's heap and cache in the peak memory when more than one scores", () => {
    const heap = 300 * 2 ** 20;
    const peak = (workers: number) => estimateAgentRun(baseline, data, { ...config, workers }, { ...costs, forwardHeapBytes: heap }).peakMemory;
    const perWorker = (peak(3) - peak(1)) / 3;
    // The heap, plus the group's cache: at most LeNet-5's first activations (24 x 24 x 20 floats) on the 500 reward images, 22 MiB.
    expect(perWorker).toBeGreaterThan(heap);
    expect(perWorker).toBeLessThan(heap + 23 * 2 ** 20);
    expect(Math.abs(peak(2) - peak(1) - 2 * perWorker)).toBeLessThan(20 * 2 ** 20); // this process's own memory moves a little between calls
  });

  it('plans a raced search: every candidate on the first images, the better half on the rest', () => {
    const search = (race: Partial<PruneConfig['agent']['race']>) =>
      estimateAgentRun(
        baseline,
        data,
        { ...config, workers: 1, evalBatchSize: 100, agent: { ...config.agent, race: { ...config.agent.race, ...race } } },
        costs,
      ).search[1];
    const plain = search({ enabled: false });
    expect(search({ enabled: true, firstImages: 100 })).toBeLessThan(plain);
    expect(search({ enabled: true, firstImages: 100, audit: true })).toBeGreaterThanOrEqual(plain); // the audit scores every candidate on the rest too
    expect(search({ enabled: true, firstImages: 100_000 })).toBe(plain); // no race when the first images are the whole subset
  });

  it('costs sensitivity its curves on curveImages, groups x ratios passes', () => {
    const curves = (sensitivity: PruneConfig['sensitivity']) =>
      estimateMethodRow('sensitivity', baseline, data, { ...config, sensitivity }, costs, 1).search[0] -
      estimateMethodRow('sensitivity', baseline, data, { ...config, sensitivity: { ratios: [] } }, costs, 1).search[0];
    expect(curves({ ratios: [0.5] })).toBe(groups * 500);
    expect(curves({ ratios: [0.25, 0.5, 0.75], curveImages: 100 })).toBe(groups * 3 * 100);
  });
});
