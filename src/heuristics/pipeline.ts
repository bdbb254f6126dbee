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
import { evaluateAccuracy, trainModel, type BatchProgress, type TrainConfig } from '../train/train.js';
import { type CriterionName, CriterionError, DATA_CRITERIA, type GroupScores, scoreGroups, topChannels } from './criteria.js';

export const RANKINGS = ['local', 'global'] as const;
export type Ranking = (typeof RANKINGS)[number];
export const SCHEDULES = ['one-shot', 'iterative', 'agp'] as const;
export type Schedule = (typeof SCHEDULES)[number];

export interface HeuristicConfig {
  /** Filter-scoring criterion. */
  criterion: CriterionName;
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
}

export const DEFAULT_HEURISTIC_CONFIG: HeuristicConfig = {
  criterion: 'l1',
  ranking: 'local',
  schedule: 'one-shot',
  steps: 3,
  minKeepFraction: 0.05,
  finetune: { epochs: 1, batchSize: 64, learningRate: 5e-4, seed: 0, restoreBest: true },
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

/**
 * Chooses the channels to keep so that `ratio` of the original channels are
 * removed, never leaving a group below its minimum.
 */
export function selectChannels(groups: ChannelGroup[], scores: GroupScores, originalSize: Map<number, number>, ratio: number, ranking: Ranking, minKeepFraction: number): KeepPlan {
  const minKeep = (g: ChannelGroup) => Math.max(1, Math.ceil(minKeepFraction * originalSize.get(g.id)!));
  const plan: KeepPlan = new Map();
  if (ranking === 'local') {
    for (const g of groups) {
      const keep = Math.min(g.size, Math.max(minKeep(g), Math.round(originalSize.get(g.id)! * (1 - ratio))));
      plan.set(g.id, topChannels(scores.get(g.id)!, keep));
    }
    return plan;
  }
  // Global: scores divided by their group mean, so groups of different scale compete fairly.
  const entries = groups.flatMap((g) => {
    const s = scores.get(g.id)!;
    const mean = s.reduce((a, b) => a + b, 0) / s.length || 1;
    return Array.from(s, (v, c) => ({ group: g.id, channel: c, score: v / mean }));
  });
  entries.sort((a, b) => a.score - b.score || a.group - b.group || a.channel - b.channel);
  const target = Math.round(groups.reduce((sum, g) => sum + originalSize.get(g.id)!, 0) * (1 - ratio));
  const kept = new Map(groups.map((g) => [g.id, g.size]));
  const removed = new Set<string>();
  let total = groups.reduce((sum, g) => sum + g.size, 0);
  for (const e of entries) {
    if (total <= target) break;
    const g = groups.find((x) => x.id === e.group)!;
    if (kept.get(g.id)! <= minKeep(g)) continue;
    kept.set(g.id, kept.get(g.id)! - 1);
    removed.add(`${e.group}:${e.channel}`);
    total--;
  }
  for (const g of groups) plan.set(g.id, Array.from({ length: g.size }, (_, c) => c).filter((c) => !removed.has(`${g.id}:${c}`)));
  return plan;
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

export type HeuristicEvent =
  | { type: 'step-start'; step: number; steps: number; ratio: number }
  | { type: 'finetune-progress'; progress: BatchProgress }
  | { type: 'step-done'; record: StepRecord }
  | { type: 'probe-done'; probe: ProbeRecord };

export type EventSink = (event: HeuristicEvent) => void;

export function checkData(config: HeuristicConfig, data: Dataset | undefined): void {
  if (DATA_CRITERIA.includes(config.criterion) && (data === undefined || data.train.count === 0)) {
    throw new CriterionError(`criterion ${config.criterion} needs training data to score channels`);
  }
}

/** Fails early when the criterion cannot score this model (e.g. bn-scale without BatchNorm); cheap for weight criteria. */
export function checkCriterion(model: tf.LayersModel, config: HeuristicConfig, data: Dataset): void {
  checkData(config, data);
  if (DATA_CRITERIA.includes(config.criterion)) return;
  const graph = buildGraph(model);
  scoreGroups(config.criterion, { graph, seed: config.seed }, graph.prunableGroups());
}

/** Prunes `ratio` of the prunable channels of `model` by the configured schedule; returns a new model. */
export async function pruneToRatio(model: tf.LayersModel, data: Dataset, config: HeuristicConfig, ratio: number, emit: EventSink = () => {}): Promise<{ model: tf.LayersModel; steps: StepRecord[] }> {
  checkData(config, data);
  const originalSize = new Map(buildGraph(model).prunableGroups().map((g) => [g.id, g.size]));
  const steps = stepsOf(config);
  const records: StepRecord[] = [];
  let current = model;
  for (let step = 1; step <= steps; step++) {
    const started = performance.now();
    const stepRatio = scheduledRatio(config.schedule, ratio, step, steps);
    emit({ type: 'step-start', step, steps, ratio: stepRatio });
    const graph = buildGraph(current);
    const groups = graph.prunableGroups();
    const scoring = { split: data.train, inputShape: data.inputShape, numClasses: data.numClasses, samples: config.scoringSamples, batchSize: 128 };
    const scores = scoreGroups(config.criterion, { graph, data: scoring, seed: config.seed + step }, groups);
    // Groups the criterion cannot score (bn-scale without BatchNorm) keep every channel.
    const plan = selectChannels(groups.filter((g) => scores.has(g.id)), scores, originalSize, stepRatio, config.ranking, config.minKeepFraction);
    const pruned = await pruneModel(graph, plan);
    if (current !== model) current.dispose();
    current = pruned;
    const tuned = await trainModel(current, data, { ...config.finetune, seed: config.finetune.seed + step }, { onBatch: (progress) => emit({ type: 'finetune-progress', progress }) });
    const record = {
      step,
      ratio: stepRatio,
      kept: Object.fromEntries([...plan].map(([id, kept]) => [id, kept.length])),
      macs: modelCost(current).macs,
      validationAccuracy: tuned.validationAccuracy,
      seconds: (performance.now() - started) / 1000,
    };
    records.push(record);
    emit({ type: 'step-done', record });
  }
  return { model: current, steps: records };
}

export interface ProbeRecord {
  probe: number;
  ratio: number;
  validationAccuracy: number;
  /** Validation accuracy drop in points against the unpruned model. */
  drop: number;
  withinTolerance: boolean;
  steps: StepRecord[];
}

export interface ToleranceResult {
  /** The unpruned model's validation accuracy. */
  baseAccuracy: number;
  /** The largest ratio found within tolerance (0 when none was). */
  ratio: number;
  model: tf.LayersModel;
  validationAccuracy: number;
  steps: StepRecord[];
  probes: ProbeRecord[];
}

export interface ToleranceSearch {
  /** Accuracy points the pruned model may lose on validation data. */
  tolerance: number;
  /** Largest share of channels tried. */
  maxRatio: number;
  /** Bisection probes; each prunes the original model and fine-tunes. */
  probes: number;
}

export const DEFAULT_SEARCH: ToleranceSearch = { tolerance: 1, maxRatio: 0.95, probes: 6 };

/**
 * Bisection over the pruning ratio: the largest ratio whose fine-tuned
 * validation accuracy is within `tolerance` points of the unpruned model's.
 */
export async function pruneToTolerance(model: tf.LayersModel, data: Dataset, config: HeuristicConfig, search: ToleranceSearch, emit: EventSink = () => {}): Promise<ToleranceResult> {
  checkData(config, data);
  const baseAccuracy = await evaluateAccuracy(model, data.validation, data.inputShape);
  let best: Omit<ToleranceResult, 'baseAccuracy' | 'probes'> | undefined;
  const probes: ProbeRecord[] = [];
  let [low, high] = [0, search.maxRatio];
  for (let probe = 1; probe <= search.probes; probe++) {
    // The first probe tries the largest ratio: a model that tolerates it needs no search.
    const ratio = probe === 1 ? high : (low + high) / 2;
    const result = await pruneToRatio(model, data, config, ratio, emit);
    const validationAccuracy = result.steps[result.steps.length - 1].validationAccuracy;
    const drop = 100 * (baseAccuracy - validationAccuracy);
    const withinTolerance = drop <= search.tolerance;
    const record = { probe, ratio, validationAccuracy, drop, withinTolerance, steps: result.steps };
    probes.push(record);
    emit({ type: 'probe-done', probe: record });
    if (withinTolerance) {
      best?.model.dispose();
      best = { ratio, model: result.model, validationAccuracy, steps: result.steps };
      low = ratio;
      if (probe === 1) break;
    } else {
      result.model.dispose();
      high = ratio;
    }
  }
  if (best === undefined) {
    best = { ratio: 0, model: await cloneModel(model), validationAccuracy: baseAccuracy, steps: [] };
  }
  return { baseAccuracy, probes, ...best };
}
