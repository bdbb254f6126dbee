/**
 * What a run will take, said before it starts. A few real steps are timed on
 * the baseline, in this process, with the run's own settings (a forward pass
 * over evaluation batches, fine-tuning batches, one candidate of a middle
 * group with its recovery), and the run's plan multiplies them out: the
 * agent's candidates (between its least and most iterations), every
 * fine-tune of the count search and the fall-back points, the checks on the
 * selection split, the final fine-tune, certification and the report.
 *
 * The costs are those of the unpruned network; a pruned one runs faster, so
 * a run that prunes much ends before the estimate's end. The range comes
 * from what only the run decides: how many iterations the agent needs and
 * how many probes the count search makes.
 */
import * as tf from '@tensorflow/tfjs';
import { PruningEnv } from '../../env/pruning-env.js';
import { CachedActivations, groupFrontier } from '../../env/activation-cache.js';
import { defaultScoringWorkers, wasmHeapBytes } from '../backend/backend.js';
import { holdoutSizes } from '../certify/holdout.js';
import { type Dataset, floatImages, subsetSplit } from '../data/datasets.js';
import { cloneModel } from '../models/io.js';
import { PhaseClock, withPhaseClock } from '../phases.js';
import { buildGraph, type ChannelGroup, type DependencyGraph } from '../prune/graph.js';
import { layerMacs, SPEEDUP_ROUNDS } from '../prune/metrics.js';
import { ConfigError } from '../errors.js';
import { DEFAULT_HEURISTIC_CONFIG, DEFAULT_SEARCH, RANKINGS, searchResolution, widthsOf } from '../heuristics/pipeline.js';
import { formatBytes, formatDuration } from '../text.js';
import { inferenceBatch } from '../train/heap-fit.js';
import { trainModel } from '../train/train.js';

import { cacheLimitsOf, envConfigOf, finalFinetuneOf, holdoutOf, onePassPoints, type PruneConfig } from './config.js';

/** What one step costs on this machine, timed on the unpruned network. */
export interface StepCosts {
  /** Seconds per image of the whole network's forward pass, in evaluation batches. */
  forwardPerImage: number;
  /** Seconds per fine-tuning batch (the step fine-tune's batch size). */
  trainBatch: number;
  /** One candidate of group `groupId` (the middle one): seconds per reward image of its forward pass (the part after the cached activations), and of its recovery. */
  candidate: { groupId: number; forwardPerImage: number; recovery: number };
  /** Bytes of the backend's memory after a forward pass over an evaluation batch (wasm's heap, which only grows; 0 on other backends): the network and its working set, which each scoring worker holds again. */
  forwardHeapBytes?: number;
  /** Seconds the timing itself took. */
  seconds: number;
}

export type Range = [low: number, high: number];

/** A run's time by part, low and high, in seconds; and its peak memory, in bytes. */
export interface RunEstimate {
  search: Range;
  finetunes: Range;
  /** Selection checks, certification of the path and the report on the test split. */
  checks: Range;
  total: Range;
  peakMemory: number;
  costs: StepCosts;
}

/** Times the steps a run of `config` repeats, on `baseline` (not modified) and `data`. */
export async function timeSteps(baseline: tf.LayersModel, data: Dataset, config: PruneConfig): Promise<StepCosts> {
  const started = performance.now();
  const forwardPerImage = await timeForward(baseline, data, config.evalBatchSize);
  const forwardHeapBytes = wasmHeapBytes();
  // Without training images nothing is fine-tuned.
  const trainBatch = data.train.count > 0 ? await timeTrainBatch(baseline, data, config.finetune) : 0;
  const candidate = await timeCandidate(baseline, data, config);
  return { forwardPerImage, forwardHeapBytes, trainBatch, candidate, seconds: (performance.now() - started) / 1000 };
}

/** Median seconds per image of a forward pass over one evaluation batch (at most 256 images), after a warm-up pass. */
async function timeForward(model: tf.LayersModel, data: Dataset, evalBatchSize: number): Promise<number> {
  const count = Math.min(inferenceBatch(model, evalBatchSize), 256, data.validation.count);
  const xs = tf.tensor4d(floatImages(data.validation, data.inputShape, 0, count), [count, ...data.inputShape]);
  const times: number[] = [];
  try {
    for (let round = 0; round < 3; round++) {
      const start = performance.now();
      const y = model.predict(xs, { batchSize: count }) as tf.Tensor;
      await y.data();
      y.dispose();
      if (round > 0) times.push((performance.now() - start) / 1000 / count);
    }
  } finally {
    xs.dispose();
  }
  return median(times);
}

/** Median seconds of a fine-tuning batch, on a copy of the model (the model the teacher of distillation): four batches, the first (compilation, warm-up) left out. */
async function timeTrainBatch(model: tf.LayersModel, data: Dataset, finetune: PruneConfig['finetune']): Promise<number> {
  const copy = await cloneModel(model);
  const stamps: number[] = [];
  const started = performance.now();
  try {
    const tiny = { ...data, validation: subsetSplit(data.validation, [0], data.inputShape) };
    await trainModel(
      copy,
      tiny,
      { ...finetune, epochs: 1, imagesPerEpoch: 4 * finetune.batchSize, batchNormImages: 0, restoreBest: false, seed: 0 },
      {
        batchEvery: 1,
        onBatch: () => stamps.push(performance.now()),
      },
      model,
    );
  } finally {
    copy.dispose();
  }
  const steps = stamps.slice(1).map((t, i) => (t - stamps[i]) / 1000);
  // Fewer than two batches of training images: one step, timed with its warm-up.
  return steps.length > 0 ? median(steps) : (stamps[0] - started) / 1000;
}

/** One half-pruned candidate of the middle group, recovered as the run recovers, on 64 reward images: seconds per image and of recovery. */
async function timeCandidate(model: tf.LayersModel, data: Dataset, config: PruneConfig): Promise<StepCosts['candidate']> {
  const images = Math.min(64, data.validation.count);
  const groups = buildGraph(model).prunableGroups();
  const group = groups[Math.floor(groups.length / 2)];
  const env = await PruningEnv.create(await cloneModel(model), data, { ...envConfigOf({ ...config, phi: 'filters' }), rewardSamples: images }, 1);
  const clock = new PhaseClock();
  try {
    env.setGroup(group.id);
    const mask = Array.from({ length: group.size }, (_, c) => (c % 2 === 0 ? 1 : 0));
    await env.evaluate(mask); // warm-up
    const rounds = 2;
    const start = performance.now();
    await withPhaseClock(clock, async () => {
      for (let round = 0; round < rounds; round++) await env.evaluate(mask);
    });
    const recovery = (clock.seconds.recovery ?? 0) / rounds;
    const total = (performance.now() - start) / 1000 / rounds;
    return { groupId: group.id, forwardPerImage: Math.max(0, total - recovery) / images, recovery };
  } finally {
    env.model.dispose();
    env.dispose();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The share of the network's MACs a candidate of each group runs again: the group's members and everything after them. */
function suffixShares(graph: DependencyGraph, groups: ChannelGroup[]): Map<number, number> {
  const macsOf = (name: string) => layerMacs(graph.node(name).layer);
  const total = graph.order.reduce((sum, name) => sum + macsOf(name), 0);
  return new Map(
    groups.map((group) => {
      const suffix = [...groupFrontier(graph, group).affected].reduce((sum, name) => sum + macsOf(name), 0);
      return [group.id, total > 0 ? suffix / total : 1];
    }),
  );
}

/** Bytes of `group`'s activation cache on `images` reward images; 0 when over the host limit (not kept: CachedActivations). */
function cachedBytes(graph: DependencyGraph, group: ChannelGroup, images: number, config: PruneConfig): number {
  const bytes = CachedActivations.bytesOf(graph, groupFrontier(graph, group).frontier, images);
  return bytes <= cacheLimitsOf(config).host ? bytes : 0;
}

/** Scoring workers' speed-up: 0.8 of a worker per extra one (docs/results/scoring-pool.md measured 1.74-1.88x with two). */
const poolSpeedup = (workers: number) => 1 + 0.8 * (workers - 1);

/**
 * The agent's run of `config` on `baseline`, from `costs`: its search (every
 * group's candidates), its fine-tunes (count-search probes and fall-back
 * points, and the final one unless the run only searches) and its checks.
 */
export function estimateAgentRun(baseline: tf.LayersModel, data: Dataset, config: PruneConfig, costs: StepCosts, { searchOnly = false } = {}): RunEstimate {
  const graph = buildGraph(baseline);
  const groups = graph.prunableGroups();
  const shares = suffixShares(graph, groups);
  const middle = shares.get(costs.candidate.groupId) || 1;
  const { reward, selection, certification } = holdoutSizes(data.validation.count, holdoutOf(config));
  const workers = config.workers ?? defaultScoringWorkers();
  const forward = (images: number) => images * costs.forwardPerImage;
  const candidateOf = (group: ChannelGroup, images = reward) => {
    // Without a cache a candidate runs the whole network.
    const share = (cachedBytes(graph, group, reward, config) > 0 ? (shares.get(group.id) ?? 1) : 1) / middle;
    return share * (images * costs.candidate.forwardPerImage + costs.candidate.recovery);
  };
  // Racing: every candidate on the first images, the better half (every one with the audit) on the rest, each recovered again.
  const { race, samplesPerIteration: samples } = config.agent;
  const first = Math.ceil(race.firstImages / config.evalBatchSize) * config.evalBatchSize;
  const raced = race.enabled && first < reward;
  const iterationOf = (group: ChannelGroup) =>
    (raced
      ? samples * candidateOf(group, first) + (race.audit ? samples : Math.ceil(samples / 2)) * candidateOf(group, reward - first)
      : samples * candidateOf(group)) / poolSpeedup(workers);
  const search: Range = [0, 0];
  // A group with no allowed width below its size is not searched.
  const searched = groups.filter((g) => widthsOf(g.size, config.widthMultiple).length > 1);
  for (const group of searched) {
    const cache = forward(reward); // the activations before the group, once per group (at most a whole pass)
    search[0] += cache + config.agent.minIterations * iterationOf(group);
    search[1] += cache + config.agent.maxIterations * iterationOf(group);
  }
  const finetuneOf = (c: PruneConfig['finetune']) => finetuneSeconds(c, data, costs, selection);
  const step = finetuneOf(config.finetune);
  // Per group: the agent's own count, then up to relaxSteps more probes; fall-back points where it pruned.
  const probes: Range = [1, config.relaxSteps + 1];
  const finetunes: Range = [groups.length * (probes[0] + config.fallbackSteps) * step, groups.length * (probes[1] + config.fallbackSteps) * step];
  // A probe's check reuses its fine-tune's last read of the selection split; without fine-tuning it reads the split itself.
  const check = config.finetune.epochs > 0 ? 0 : forward(selection);
  const checks: Range = [groups.length * probes[0] * check, groups.length * probes[1] * check];
  if (config.onePass.enabled) {
    // No fine-tune or check between groups: the count search's probes are candidates, and the pass's points get the final fine-tune.
    const points = finetuneOf(finalFinetuneOf(config)) * onePassPoints(groups.length, config.fallbackSteps).length;
    for (const group of searched) {
      search[0] += probes[0] * candidateOf(group);
      search[1] += probes[1] * candidateOf(group);
    }
    finetunes.splice(0, 2, points, points);
    checks.splice(0, 2, 0, 0);
  }
  if (!searchOnly) {
    const final = finetuneOf(finalFinetuneOf(config));
    finetunes[0] += final;
    finetunes[1] += final;
    // Certification walks the path (at least the final model, at most every point); the report reads the selection and test splits with both models and times both.
    const pathHigh = config.onePass.enabled ? config.fallbackSteps + 1 : groups.length * (config.relaxSteps + config.fallbackSteps) + 1;
    const report = forward(2 * selection + 2 * data.test.count) + forward(SPEEDUP_ROUNDS * 2 * (11 + 4 * 256));
    checks[0] += forward(certification) + report;
    checks[1] += forward(pathHigh * certification) + report;
  }
  const total: Range = [search[0] + finetunes[0] + checks[0], search[1] + finetunes[1] + checks[1]];
  return { search, finetunes, checks, total, peakMemory: peakMemoryOf(baseline, graph, groups, reward, config, costs, searchOnly), costs };
}

/**
 * A compare row of a hand-made criterion (both rankings) or sensitivity
 * analysis, from `costs`: its bisection's probes (each a one-shot prune, its
 * fine-tune and a selection check; a data criterion's scores first), then
 * the final fine-tune, certification of its accepted probes and the report.
 * Sensitivity first measures each group at its ratios on its curve images.
 */
export function estimateMethodRow(
  method: 'criterion' | 'data criterion' | 'sensitivity',
  baseline: tf.LayersModel,
  data: Dataset,
  config: PruneConfig,
  costs: StepCosts,
  probes: number,
): RunEstimate {
  const groups = buildGraph(baseline).prunableGroups();
  const { selection, certification } = holdoutSizes(data.validation.count, holdoutOf(config));
  const forward = (images: number) => images * costs.forwardPerImage;
  const finetune = finetuneSeconds(config.finetune, data, costs, selection);
  // The bisection ends at its resolution (one channel of the largest group, at least FINEST_RESOLUTION) or at the probe cap;
  // started low, it may first double all the way up, then bisect as many times.
  const resolution = searchResolution(groups.map((g) => g.size));
  const halvings = Math.ceil(Math.log2(DEFAULT_SEARCH.maxRatio / resolution)) + 1;
  const bisection = Math.min(probes, config.searchStart === 'low' ? 2 * halvings - 1 : halvings);
  const searches = method === 'sensitivity' ? 1 : RANKINGS.length;
  const scoring = method === 'data criterion' ? forward(DEFAULT_HEURISTIC_CONFIG.scoringSamples) : 0;
  const curveImages = Math.min(config.sensitivity.curveImages ?? selection, selection);
  const curves = method === 'sensitivity' ? forward(groups.length * config.sensitivity.ratios.length * curveImages) : 0;
  const perProbe = finetune + (config.finetune.epochs > 0 ? 0 : forward(selection)) + scoring;
  const search: Range = [curves + searches * Math.min(bisection, 2) * perProbe, curves + searches * bisection * perProbe];
  const final = finetuneSeconds(finalFinetuneOf(config), data, costs, selection);
  const report = forward(2 * selection + 2 * data.test.count) + forward(SPEEDUP_ROUNDS * 2 * (11 + 4 * 256));
  const checks: Range = [forward(certification) + report, forward(bisection * certification) + report];
  const total: Range = [search[0] + final + checks[0], search[1] + final + checks[1]];
  return { search, finetunes: [final, final], checks, total, peakMemory: process.memoryUsage().rss + 4 * baseline.countParams() * (bisection + 3), costs };
}

/** A fine-tune: its batches, the selection split after each epoch, the BatchNorm re-estimation. */
function finetuneSeconds(c: PruneConfig['finetune'], data: Dataset, costs: StepCosts, selection: number): number {
  const batches = Math.ceil(Math.min(c.imagesPerEpoch ?? data.train.count, data.train.count) / c.batchSize);
  return c.epochs * (batches * costs.trainBatch + (selection + (c.batchNormImages ?? 0)) * costs.forwardPerImage);
}

/**
 * A compare's wall time from its rows': one after another, or with `jobs`
 * at once, their sum over the jobs but at least the longest row.
 */
export function compareTotal(rows: RunEstimate[], jobs: number): Range {
  const sum = (i: 0 | 1) => rows.reduce((t, r) => t + r.total[i], 0);
  const longest = (i: 0 | 1) => Math.max(...rows.map((r) => r.total[i]));
  const wall = (i: 0 | 1) => (jobs > 1 ? Math.max(sum(i) / Math.min(jobs, rows.length), longest(i)) : sum(i));
  return [wall(0), wall(1)];
}

/**
 * The run's peak memory: this process as it is (data and baseline loaded),
 * the largest group's cached activations on the reward subset, the recovery
 * images, and the models certification holds at once (the path).
 */
/**
 * This process now (the data, the timed steps' heap), the largest group's
 * activation cache, the reward images as floats, recovery's images, the
 * path's models; and each scoring worker (more than one) again: its own
 * heap with the network and an evaluation batch's working set (as the timed
 * forward pass grew this one's), and its cache.
 */
function peakMemoryOf(
  baseline: tf.LayersModel,
  graph: DependencyGraph,
  groups: ChannelGroup[],
  reward: number,
  config: PruneConfig,
  costs: StepCosts,
  searchOnly: boolean,
): number {
  const floats = (shape: (number | null)[]) => shape.slice(1).reduce<number>((n, d) => n * (d ?? 1), 1);
  const cache = Math.max(0, ...groups.map((group) => cachedBytes(graph, group, reward, config)));
  const input = floats(baseline.inputs[0].shape);
  const recovery = config.recovery.adaptiveBatchNorm || config.recovery.reconstruction ? 4 * config.recovery.samples * input : 0;
  const modelBytes = 4 * baseline.countParams();
  const pathModels = config.onePass.enabled ? onePassPoints(groups.length, config.fallbackSteps).length : groups.length * (config.fallbackSteps + 1);
  const models = searchOnly ? 3 : pathModels + 3;
  const workers = config.workers ?? defaultScoringWorkers();
  // A worker's thread adds nothing measurable beside its heap (bench/worker-memory.ts: +1.9 GiB resident per worker, its heap 1.9 GiB).
  const perWorker = (costs.forwardHeapBytes ?? 0) + cache;
  return process.memoryUsage().rss + cache + 4 * reward * input + recovery + models * modelBytes + (workers > 1 ? workers * perWorker : 0);
}

/**
 * The settings a run of `config` has to fit `budget` seconds: the estimate's
 * high end at the settings as given, else at cheaper ones, one step at a
 * time in this order until it fits:
 *   1. the agent's iterations: its most, then its least and most together,
 *      by a quarter per step, down to 10;
 *   2. the reward subset, halved down to 256 images;
 *   3. the fine-tunes' images per epoch (each group's and the final one),
 *      halved down to 20 batches;
 *   4. the count search's probes (relaxSteps) down to 2, the fall-back
 *      points (fallbackSteps) down to 1.
 * Refused (a ConfigError) when even the cheapest of them does not fit; the
 * message says what would.
 */
export function fitToBudget(
  estimateFor: (config: PruneConfig) => RunEstimate,
  config: PruneConfig,
  budget: number,
  trainImages: number,
): { config: PruneConfig; estimate: RunEstimate; changes: string[] } {
  let fitted = config;
  let estimate = estimateFor(fitted);
  while (estimate.total[1] > budget) {
    const cheaper = cheaperStep(fitted, trainImages);
    if (cheaper === undefined)
      throw new ConfigError(
        `timeBudget ${formatDuration(budget)}: the cheapest run its rule allows (${describeChanges(config, fitted).join(', ')}) is ${formatEstimate(estimate)}; give at least ${formatDuration(estimate.total[1])}`,
      );
    fitted = cheaper;
    estimate = estimateFor(fitted);
  }
  return { config: fitted, estimate, changes: describeChanges(config, fitted) };
}

/** The next cheaper settings of fitToBudget's order, or undefined at its end. */
function cheaperStep(c: PruneConfig, trainImages: number): PruneConfig | undefined {
  const { minIterations, maxIterations } = c.agent;
  const quarterLess = (n: number) => Math.max(10, Math.floor(0.75 * n));
  if (maxIterations > Math.max(minIterations, 10)) return { ...c, agent: { ...c.agent, maxIterations: Math.max(minIterations, quarterLess(maxIterations)) } };
  if (minIterations > 10) return { ...c, agent: { ...c.agent, minIterations: quarterLess(minIterations), maxIterations: quarterLess(minIterations) } };
  if (c.rewardSamples > 256) return { ...c, rewardSamples: Math.max(256, Math.floor(c.rewardSamples / 2)) };
  const fewerImages = (f: PruneConfig['finetune']) => {
    const images = Math.min(f.imagesPerEpoch ?? trainImages, trainImages);
    const floor = 20 * f.batchSize;
    return images > floor ? { ...f, imagesPerEpoch: Math.max(floor, Math.floor(images / 2)) } : f;
  };
  const [finetune, finalFinetune] = [fewerImages(c.finetune), fewerImages(c.finalFinetune)];
  if (finetune !== c.finetune || finalFinetune !== c.finalFinetune) return { ...c, finetune, finalFinetune };
  if (c.relaxSteps > 2) return { ...c, relaxSteps: c.relaxSteps - 1 };
  if (c.fallbackSteps > 1) return { ...c, fallbackSteps: c.fallbackSteps - 1 };
  return undefined;
}

/** "agent.maxIterations 250 -> 80, rewardSamples 1000 -> 500": the settings fitToBudget changed. */
function describeChanges(from: PruneConfig, to: PruneConfig): string[] {
  const fields: [string, (c: PruneConfig) => number | undefined][] = [
    ['agent.minIterations', (c) => c.agent.minIterations],
    ['agent.maxIterations', (c) => c.agent.maxIterations],
    ['rewardSamples', (c) => c.rewardSamples],
    ['finetune.imagesPerEpoch', (c) => c.finetune.imagesPerEpoch],
    ['finalFinetune.imagesPerEpoch', (c) => c.finalFinetune.imagesPerEpoch],
    ['relaxSteps', (c) => c.relaxSteps],
    ['fallbackSteps', (c) => c.fallbackSteps],
  ];
  const changes = fields.filter(([, get]) => get(from) !== get(to)).map(([name, get]) => `${name} ${get(from) ?? 'all'} -> ${get(to)}`);
  return changes.length > 0 ? changes : ['the settings as given'];
}

/** A run's estimate as its record keeps it: seconds by part (low, high), peak memory, the timed steps. */
export type RecordedEstimate = Omit<RunEstimate, 'costs'> & { steps: StepCosts };

export const recordedEstimate = ({ costs, ...parts }: RunEstimate): RecordedEstimate => ({ ...parts, steps: costs });

/** "about 1h05m to 2h10m: search 40m-1h30m, fine-tunes 20m-35m, checks 5m; peak memory about 2.1 GiB (steps timed in 12s)". */
export function formatEstimate(e: RunEstimate): string {
  const range = ([low, high]: Range) => (high - low < 0.1 * high ? formatDuration(high) : `${formatDuration(low)} to ${formatDuration(high)}`);
  const parts = [
    e.search[1] > 0 ? `search ${range(e.search)}` : undefined,
    `fine-tunes ${range(e.finetunes)}`,
    `checks and certification ${range(e.checks)}`,
  ].filter((p) => p !== undefined);
  return `estimated time ${range(e.total)} (${parts.join(', ')}), peak memory about ${formatBytes(e.peakMemory)}; from steps timed in ${formatDuration(e.costs.seconds)} (a candidate ${(1000 * e.costs.candidate.forwardPerImage).toFixed(2)} ms per image + ${e.costs.candidate.recovery.toFixed(2)} s recovery, a fine-tuning batch ${e.costs.trainBatch.toFixed(2)} s)`;
}
