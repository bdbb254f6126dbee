/**
 * The policy for hand-made criteria: how many channels each group keeps
 * (local or global ranking), when (one-shot, iterative, automated gradual
 * pruning), with fine-tuning between steps; and the search for the largest
 * pruning ratio whose fine-tuned validation accuracy stays within a tolerance.
 */
import type * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../data/datasets.js';
import { cloneModel } from '../models/io.js';
import { buildGraph, type ChannelGroup } from '../prune/graph.js';
import { modelCost } from '../prune/metrics.js';
import { pruneModel, type KeepPlan } from '../prune/surgery.js';
import { DEFAULT_BATCHNORM_IMAGES, stopRequested, trainModel, type BatchProgress, type SplitAnswers, type TrainConfig } from '../train/train.js';
import type { PathModel } from '../certify/check.js';
import { SelectionCheck } from '../certify/check.js';
import { type Criterion, type CriterionName, criterionOf, type GroupScores, scoreGroups, topChannels } from './criteria.js';
import { checkDataArgument, checkModelArgument } from '../arguments.js';
import { CriterionError } from '../errors.js';

export const RANKINGS = ['local', 'global'] as const;
export type Ranking = (typeof RANKINGS)[number];
export const SCHEDULES = ['one-shot', 'iterative', 'agp'] as const;
export type Schedule = (typeof SCHEDULES)[number];

export interface HeuristicConfig {
  /** Filter-scoring criterion: a built-in's name, or a Criterion of your own. */
  criterion: CriterionName | Criterion;
  /** local: every group loses the same share; global: all channels ranked together after per-group mean normalisation. */
  ranking: Ranking;
  /** one-shot: prune once; iterative: equal steps; agp: Zhu & Gupta's cubic schedule. Fine-tuning follows every step. */
  schedule: Schedule;
  /** Pruning steps of the iterative and agp schedules (one-shot always takes one). */
  steps: number;
  /** Share of a group's original channels that is always kept (at least one channel). */
  minKeepFraction: number;
  /** Fine-tuning after each pruning step; surviving weights are kept, never re-initialised. */
  finetune: TrainConfig;
  /** Training images the data-driven criteria (apoz, mean-activation, taylor) read. */
  scoringSamples: number;
  /** Seed of the random criterion and of fine-tuning's batch order. */
  seed: number;
  /**
   * Time each group's channel costs on the target (a latency table's
   * channelCosts): global ranking then removes first the channels whose score
   * is lowest per unit of time saved (cost-aware, as HALP). Absent: by score alone.
   */
  channelCosts?: Record<number, number>;
  /** Kept counts rounded up to a multiple of this (see widthsOf); 1: as the ranking leaves them. */
  widthMultiple?: number;
}

export const DEFAULT_HEURISTIC_CONFIG: HeuristicConfig = {
  criterion: 'l1',
  ranking: 'local',
  schedule: 'one-shot',
  steps: 3,
  minKeepFraction: 0.05,
  finetune: { epochs: 1, batchSize: 64, learningRate: 5e-4, seed: 0, restoreBest: true, batchNormImages: DEFAULT_BATCHNORM_IMAGES },
  scoringSamples: 1024,
  seed: 0,
};

/** Share of the original channels removed after step `step` of `steps`. */
export function scheduledRatio(schedule: Schedule, target: number, step: number, steps: number): number {
  if (schedule === 'one-shot') return target;
  const progress = step / steps;
  if (schedule === 'iterative') return target * progress;
  return target + (0 - target) * (1 - progress) ** 3; // AGP: s_t = s_f + (s_i - s_f)(1 - t/T)^3 with s_i = 0
}

export function stepsOf(config: Pick<HeuristicConfig, 'schedule' | 'steps'>): number {
  return config.schedule === 'one-shot' ? 1 : config.steps;
}

const minKeep = (originalSize: number, minKeepFraction: number) => Math.max(1, Math.ceil(minKeepFraction * originalSize));

/**
 * Local ranking with a share of its own per group: each group keeps its best
 * channels after losing `ratioOf(group)` of its original channels, never
 * going below its minimum.
 */
export function localPlan(
  groups: ChannelGroup[],
  scores: GroupScores,
  originalSize: Map<number, number>,
  ratioOf: (group: ChannelGroup) => number,
  minKeepFraction: number,
): KeepPlan {
  return new Map(
    groups.map((g) => {
      const original = originalSize.get(g.id)!;
      const keep = Math.min(g.size, Math.max(minKeep(original, minKeepFraction), Math.round(original * (1 - ratioOf(g)))));
      return [g.id, topChannels(scores.get(g.id)!, keep)];
    }),
  );
}

/**
 * Chooses the channels to keep so that `ratio` of the original channels are
 * removed, never leaving a group below its minimum.
 */
export function selectChannels(
  groups: ChannelGroup[],
  scores: GroupScores,
  originalSize: Map<number, number>,
  ratio: number,
  ranking: Ranking,
  minKeepFraction: number,
  channelCosts?: Record<number, number>,
): KeepPlan {
  if (ranking === 'local') return localPlan(groups, scores, originalSize, () => ratio, minKeepFraction);
  // Global: scores divided by their group mean, so groups of different scale compete fairly; cost-aware, also by the time a channel saves.
  const meanCost = channelCosts === undefined ? 1 : groups.reduce((sum, g) => sum + channelCosts[g.id], 0) / groups.length;
  const entries = groups.flatMap((g) => {
    const s = scores.get(g.id)!;
    const mean = s.reduce((a, b) => a + b, 0) / s.length || 1;
    const cost = channelCosts === undefined ? 1 : channelCosts[g.id] / meanCost;
    return Array.from(s, (v, c) => ({ group: g.id, channel: c, score: v / mean / cost }));
  });
  entries.sort((a, b) => a.score - b.score || a.group - b.group || a.channel - b.channel);
  const target = Math.round(groups.reduce((sum, g) => sum + originalSize.get(g.id)!, 0) * (1 - ratio));
  const kept = new Map(groups.map((g) => [g.id, g.size]));
  const removed = new Set<string>();
  let total = groups.reduce((sum, g) => sum + g.size, 0);
  for (const e of entries) {
    if (total <= target) break;
    if (kept.get(e.group)! <= minKeep(originalSize.get(e.group)!, minKeepFraction)) continue;
    kept.set(e.group, kept.get(e.group)! - 1);
    removed.add(`${e.group}:${e.channel}`);
    total--;
  }
  const plan: KeepPlan = new Map();
  for (const g of groups)
    plan.set(
      g.id,
      Array.from({ length: g.size }, (_, c) => c).filter((c) => !removed.has(`${g.id}:${c}`)),
    );
  return plan;
}

/**
 * The kept counts a group may take: multiples of `multiple`, and the whole
 * group. On wasm a 3x3 convolution's time steps every 8 output channels
 * (bench/results/width-multiples-batch1.md), so a count between two
 * multiples costs what the next one does: rounding up keeps those channels
 * for free.
 */
export function widthsOf(size: number, multiple: number): number[] {
  const widths = Array.from({ length: Math.floor(size / multiple) }, (_, i) => (i + 1) * multiple);
  return widths[widths.length - 1] === size ? widths : [...widths, size];
}

/** `count` rounded up to the next of widthsOf(size, multiple). */
export const roundedUpWidth = (count: number, size: number, multiple: number) => Math.min(size, Math.ceil(count / multiple) * multiple);

/** Each group of `plan` keeps its best channels up to its count rounded up to a multiple (1: the plan as it is). */
export function roundPlanUp(plan: KeepPlan, groups: ChannelGroup[], scores: GroupScores, multiple = 1): KeepPlan {
  if (multiple === 1) return plan;
  return new Map(
    groups.filter((g) => plan.has(g.id)).map((g) => [g.id, topChannels(scores.get(g.id)!, roundedUpWidth(plan.get(g.id)!.length, g.size, multiple))]),
  );
}

/** Channels kept per group id, as the records keep them. */
export function keptCounts(plan: KeepPlan): Record<number, number> {
  return Object.fromEntries([...plan].map(([id, kept]) => [id, kept.length]));
}

export interface StepRecord {
  step: number;
  /** Share of the original prunable channels removed after this step. */
  ratio: number;
  /** Channels kept per group id. */
  kept: Record<number, number>;
  /** Network MACs per image after this step. */
  macs: number;
  validationAccuracy: number;
  seconds: number;
}

export interface FinetuneProgress {
  type: 'finetune-progress';
  progress: BatchProgress;
}

export type HeuristicEvent =
  | { type: 'step-start'; step: number; steps: number; ratio: number }
  | FinetuneProgress
  | { type: 'step-done'; record: StepRecord }
  | { type: 'probe-done'; probe: ProbeRecord };

export type EventSink = (event: HeuristicEvent) => void;

export function checkData(config: HeuristicConfig, data: Dataset | undefined): void {
  const criterion = criterionOf(config.criterion);
  if (criterion.needsData && (data === undefined || data.train.count === 0)) {
    throw new CriterionError(`criterion ${criterion.name} needs training data to score channels`);
  }
}

/** Fails early when the criterion cannot score this model (e.g. bn-scale without BatchNorm); cheap for weight criteria. */
export function checkCriterion(model: tf.LayersModel, config: HeuristicConfig, data: Dataset): void {
  checkData(config, data);
  if (criterionOf(config.criterion).needsData) return;
  const graph = buildGraph(model);
  scoreGroups(config.criterion, { graph, seed: config.seed }, graph.prunableGroups());
}

/** The prunable groups' channel counts. */
export function prunableSizes(model: tf.LayersModel): number[] {
  return buildGraph(model)
    .prunableGroups()
    .map((g) => g.size);
}

/** The fine-tuning after pruning step `step` (each step its own batch order; `unpruned` the teacher of distillation); returns the validation accuracy and the answers it was read from. */
export async function finetuneStep(
  model: tf.LayersModel,
  data: Dataset,
  finetune: TrainConfig,
  step: number,
  emit: (event: FinetuneProgress) => void,
  unpruned: tf.LayersModel,
  signal?: AbortSignal,
): Promise<{ validationAccuracy: number; validationAnswers: SplitAnswers }> {
  const { validationAccuracy, validationAnswers } = await trainModel(
    model,
    data,
    { ...finetune, seed: finetune.seed + step },
    { onBatch: (progress) => emit({ type: 'finetune-progress', progress }), shouldStop: stopRequested(signal) },
    unpruned,
  );
  return { validationAccuracy, validationAnswers };
}

/** Prunes `ratio` of the prunable channels of `model` by the configured schedule; returns a new model. */
export async function pruneToRatio(
  model: tf.LayersModel,
  data: Dataset,
  config: HeuristicConfig,
  ratio: number,
  emit: EventSink = () => {},
  signal?: AbortSignal,
): Promise<{ model: tf.LayersModel; steps: StepRecord[]; validationAnswers?: SplitAnswers }> {
  checkModelArgument(model, 'pruneToRatio');
  checkDataArgument(data, 'pruneToRatio');
  checkData(config, data);
  const originalSize = new Map(
    buildGraph(model)
      .prunableGroups()
      .map((g) => [g.id, g.size]),
  );
  const steps = stepsOf(config);
  const records: StepRecord[] = [];
  let current = model;
  let validationAnswers: SplitAnswers | undefined;
  for (let step = 1; step <= steps; step++) {
    const started = performance.now();
    const stepRatio = scheduledRatio(config.schedule, ratio, step, steps);
    emit({ type: 'step-start', step, steps, ratio: stepRatio });
    const graph = buildGraph(current);
    const groups = graph.prunableGroups();
    const scoring = { split: data.train, inputShape: data.inputShape, numClasses: data.numClasses, samples: config.scoringSamples, batchSize: 128 };
    const scores = scoreGroups(config.criterion, { graph, data: scoring, seed: config.seed + step }, groups);
    // Groups the criterion cannot score (bn-scale without BatchNorm) keep every channel.
    const scored = groups.filter((g) => scores.has(g.id));
    const plan = roundPlanUp(
      selectChannels(scored, scores, originalSize, stepRatio, config.ranking, config.minKeepFraction, config.channelCosts),
      scored,
      scores,
      config.widthMultiple,
    );
    const pruned = await pruneModel(graph, plan);
    if (current !== model) current.dispose();
    current = pruned;
    const tuned = await finetuneStep(current, data, config.finetune, step, emit, model, signal);
    validationAnswers = tuned.validationAnswers;
    const validationAccuracy = tuned.validationAccuracy;
    const record = {
      step,
      ratio: stepRatio,
      kept: keptCounts(plan),
      macs: modelCost(current).macs,
      validationAccuracy,
      seconds: (performance.now() - started) / 1000,
    };
    records.push(record);
    emit({ type: 'step-done', record });
  }
  return { model: current, steps: records, validationAnswers };
}

export interface ProbeRecord {
  probe: number;
  ratio: number;
  validationAccuracy: number;
  /** Validation accuracy drop in points against the unpruned model, and that drop plus the margin certification would add to it. */
  drop: number;
  upperBound: number;
  /** The bound is within the tolerance. */
  withinTolerance: boolean;
  steps: StepRecord[];
}

export interface ToleranceResult {
  /** The unpruned model's validation accuracy. */
  baseAccuracy: number;
  /** The largest ratio found within tolerance (0 when none was). */
  ratio: number;
  /** The bracket width (in ratio units) below which the bisection stopped. */
  resolution: number;
  model: tf.LayersModel;
  validationAccuracy: number;
  steps: StepRecord[];
  probes: ProbeRecord[];
  /** The probes accepted before the best one, least pruned first, as models: the path certification walks (the caller disposes them). */
  path: PathModel[];
}

export interface ToleranceSearch {
  /** Accuracy points the pruned model may lose: a probe is within it when its drop plus the margin certification would add is (SelectionCheck). */
  tolerance: number;
  /** Confidence of the certified claim the search aims at (default 0.95). */
  confidence?: number;
  /** Images of the certification split the result will be certified on: a probe's margin is the one it would get there (default: as many as the validation split the search reads). */
  certificationImages?: number;
  /** Largest share of channels tried. */
  maxRatio: number;
  /** Cap on bisection probes (each prunes the original model and fine-tunes); the search usually stops earlier, at the resolution. */
  maxProbes: number;
  /** Stop once the bracket is narrower than this share of channels; default: searchResolution of the model's groups. */
  resolution?: number;
  /** Where the search starts (default 'top'): see SearchStart. */
  start?: SearchStart;
}

/**
 * 'top': the first probe tries the most pruning (maxRatio), then halves: a
 * model that tolerates much needs one probe. 'low': the first probe tries one
 * resolution step, each one that fits doubles it until one does not, then
 * bisection: a deep network that tolerates a few percent spends no probe far
 * above it (halving from 0.95 to 0.06 takes four).
 */
export type SearchStart = 'top' | 'low';

export const DEFAULT_SEARCH: ToleranceSearch = { tolerance: 1, confidence: 0.95, maxRatio: 0.95, maxProbes: 12 };

/** The selection check of a tolerance search on `data.validation`, against the unpruned `model`. */
export function selectionCheckOf(model: tf.LayersModel, data: Dataset, search: Pick<ToleranceSearch, 'tolerance' | 'confidence' | 'certificationImages'>) {
  return SelectionCheck.create(model, data.validation, data.inputShape, {
    tolerance: search.tolerance,
    confidence: search.confidence ?? 0.95,
    certificationImages: search.certificationImages ?? data.validation.count,
  });
}

/** Finer than this a ratio search is not worth its probes. */
const FINEST_RESOLUTION = 0.01;

/**
 * One channel of the largest prunable group (a finer ratio step changes no
 * group under local ranking), but no finer than 1%. Not the smallest group's
 * channel: where the tolerance allows only a few percent (a compact ResNet),
 * a step of 1/16 would stop the search at ratio 0 while the wider groups can
 * still give up channels.
 */
export function searchResolution(groupSizes: number[]): number {
  return Math.max(1 / Math.max(...groupSizes), FINEST_RESOLUTION);
}

/** How a tolerance search of `start` proceeds, to its resolution, for logs and plans. */
export function describeSearch(start: SearchStart | undefined, groupSizes: number[]): string {
  return `${start === 'low' ? 'doubling from one resolution step, then bisection' : 'bisection'} to ${describeResolution(groupSizes)}`;
}

/** The resolution and where it comes from, for logs. */
export function describeResolution(groupSizes: number[]): string {
  const largest = Math.max(...groupSizes);
  const resolution = searchResolution(groupSizes);
  const why =
    resolution === FINEST_RESOLUTION
      ? `the ${FINEST_RESOLUTION} floor; the largest group has ${largest} channels`
      : `1 channel of the largest group, ${largest} channels`;
  return `a resolution of ${resolution.toFixed(3)} (${why})`;
}

export interface Bisection {
  /** Known to fit, or the fallback when nothing does. */
  low: number;
  /** The largest value tried; the first one unless `first` is given. */
  high: number;
  /** The first value tried, below `high`: each value that fits doubles its distance from `low` (capped at `high`) until one does not, then bisection. */
  first?: number;
  maxProbes: number;
  /** The next value inside the bracket (low fits, high does not), or undefined once the bracket is fine enough. */
  next: (low: number, high: number) => number | undefined;
}

/** Whether a bracket `width` wide is as fine as `resolution`, up to rounding (a search started low brackets exact multiples of it). */
export const atResolution = (width: number, resolution: number) => width <= resolution * (1 + 1e-9);

/** Bisection of a continuous value: midpoints until the bracket is no wider than `resolution`. */
export const halvingTo = (resolution: number) => (low: number, high: number) => (atResolution(high - low, resolution) ? undefined : (low + high) / 2);

/**
 * Bisection for the largest value that fits, assuming every value below a
 * fitting one fits too. The first probe tries `high` (a model that tolerates
 * it needs no search), or `first` and doubles up from there. Returns the
 * largest value that fitted (`low` if none).
 */
export async function bisectLargest({ low, high, first, maxProbes, next }: Bisection, fits: (value: number) => Promise<boolean>): Promise<number> {
  const origin = low;
  const top = high;
  let doubling = first !== undefined && first > low && first < high;
  let value = high > low ? (doubling ? first : high) : undefined;
  for (let probe = 1; value !== undefined && probe <= maxProbes; probe++) {
    if (await fits(value)) low = value;
    else {
      high = value;
      doubling = false;
    }
    if (doubling) value = low < top ? Math.min(origin + 2 * (low - origin), top) : undefined;
    else value = next(low, high);
  }
  return low;
}

/** A pruned, fine-tuned candidate of a tolerance search. */
export interface Attempt {
  model: tf.LayersModel;
  validationAccuracy: number;
  /** Its answers as its fine-tune last read them (the check reuses them when read on its split). */
  validationAnswers?: SplitAnswers;
}

export interface AttemptOutcome<A extends Attempt> {
  value: number;
  attempt: A;
  /** Validation accuracy points lost against the unpruned model, and the upper confidence bound on them. */
  drop: number;
  upperBound: number;
  withinTolerance: boolean;
}

/**
 * A tolerance search: bisection for the largest value whose attempt's drop
 * has its upper confidence bound within the tolerance (`check`). `onProbe`
 * sees every attempt; the accepted ones are returned in the order they were
 * accepted (each prunes more than the one before; the last is the best) and
 * every other model is disposed.
 */
export async function largestWithinTolerance<A extends Attempt>(
  check: SelectionCheck,
  bisection: Bisection,
  attempt: (value: number) => Promise<A>,
  onProbe: (outcome: AttemptOutcome<A>) => void,
): Promise<{ value: number; attempt: A }[]> {
  const accepted: { value: number; attempt: A }[] = [];
  await bisectLargest(bisection, async (value) => {
    const tried = await attempt(value);
    const measured = await check.check(tried.model, tried.validationAnswers);
    const withinTolerance = check.accepts(measured);
    onProbe({ value, attempt: tried, drop: measured.drop, upperBound: measured.upperBound, withinTolerance });
    if (withinTolerance) accepted.push({ value, attempt: tried });
    else tried.model.dispose();
    return withinTolerance;
  });
  return accepted;
}

/**
 * Bisection over the pruning ratio: the largest ratio whose fine-tuned
 * validation drop against the unpruned model has its upper confidence bound
 * within `tolerance` points, to the search's resolution.
 */
export async function pruneToTolerance(
  model: tf.LayersModel,
  data: Dataset,
  config: HeuristicConfig,
  search: ToleranceSearch,
  emit: EventSink = () => {},
  signal?: AbortSignal,
): Promise<ToleranceResult> {
  checkModelArgument(model, 'pruneToTolerance');
  checkDataArgument(data, 'pruneToTolerance');
  checkData(config, data);
  const check = await selectionCheckOf(model, data, search);
  const baseAccuracy = check.baseAccuracy;
  const resolution = search.resolution ?? searchResolution(prunableSizes(model));
  const probes: ProbeRecord[] = [];
  const attempt = async (ratio: number) => {
    const result = await pruneToRatio(model, data, config, ratio, emit, signal);
    return { ...result, validationAccuracy: result.steps[result.steps.length - 1].validationAccuracy };
  };
  const accepted = await largestWithinTolerance(
    check,
    { low: 0, high: search.maxRatio, ...(search.start === 'low' && { first: resolution }), maxProbes: search.maxProbes, next: halvingTo(resolution) },
    attempt,
    ({ value: ratio, attempt: tried, drop, upperBound, withinTolerance }) => {
      const record = { probe: probes.length + 1, ratio, validationAccuracy: tried.validationAccuracy, drop, upperBound, withinTolerance, steps: tried.steps };
      probes.push(record);
      emit({ type: 'probe-done', probe: record });
    },
  );
  const best = accepted.pop();
  const path = accepted.map(({ value, attempt: { model } }) => ({ label: `ratio ${value.toFixed(3)}`, model }));
  if (best === undefined)
    return { baseAccuracy, ratio: 0, resolution, model: await cloneModel(model), validationAccuracy: baseAccuracy, steps: [], probes, path };
  const { model: pruned, validationAccuracy, steps } = best.attempt;
  return { baseAccuracy, ratio: best.value, resolution, model: pruned, validationAccuracy, steps, probes, path };
}
