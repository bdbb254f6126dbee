/**
 * Per-layer sensitivity analysis as a pruning method (Li et al., ICLR 2017):
 * prune each group alone at a range of ratios and measure the validation
 * accuracy lost before any retraining; a threshold on that loss then gives
 * every group its own ratio (L1 ranking within a group, as in Li et al.), and
 * a tolerance search bisects the threshold like the criteria bisect a ratio.
 */
import type * as tf from '@tensorflow/tfjs';
import { type Dataset, subsetSplit } from '../data/datasets.js';
import { cloneModel } from '../models/io.js';
import { buildGraph } from '../prune/graph.js';
import { modelCost } from '../prune/metrics.js';
import { pruneModel } from '../prune/surgery.js';
import { evaluateAccuracy, type TrainConfig } from '../train/train.js';
import { InterruptedError } from '../errors.js';
import type { PathModel } from '../certify/check.js';
import { scoreGroups } from './criteria.js';
import {
  DEFAULT_HEURISTIC_CONFIG,
  type FinetuneProgress,
  finetuneStep,
  keptCounts,
  largestWithinTolerance,
  localPlan,
  roundPlanUp,
  selectionCheckOf,
  type ToleranceSearch,
} from './pipeline.js';
import { checkDataArgument, checkModelArgument } from '../arguments.js';

export interface SensitivityConfig {
  /** Shares of a group's channels removed, one group at a time, to measure its sensitivity. */
  ratios: number[];
  /** Share of a group's original channels that is always kept (at least one channel). */
  minKeepFraction: number;
  /** Fine-tuning of each probe's pruned model, as a criterion's one-shot probe gets it. */
  finetune: TrainConfig;
  /** Kept counts rounded up to a multiple of this (the criteria's widthMultiple); 1: as the ratios leave them. */
  widthMultiple?: number;
  /**
   * Validation images each curve point is measured on: the split's first ones
   * (all when absent). The curves cost groups x ratios passes over them, the
   * bulk of the method on a deep network; their drops only rank the groups,
   * and every probe is still checked on the whole split.
   */
  curveImages?: number;
}

export const DEFAULT_SENSITIVITY_CONFIG: SensitivityConfig = {
  ratios: Array.from({ length: 19 }, (_, i) => (i + 1) / 20),
  minKeepFraction: DEFAULT_HEURISTIC_CONFIG.minKeepFraction,
  finetune: DEFAULT_HEURISTIC_CONFIG.finetune,
};

export interface SensitivityPoint {
  ratio: number;
  /** Channels the group keeps at this ratio. */
  kept: number;
  /** With only this group pruned, before any fine-tuning (on the curve images). */
  validationAccuracy: number;
  /** Validation accuracy points lost against the unpruned model. */
  drop: number;
}

/** One group pruned alone, at every measured ratio. */
export interface SensitivityCurve {
  groupId: number;
  producers: string[];
  size: number;
  points: SensitivityPoint[];
}

export interface SensitivityProbe {
  probe: number;
  /** Validation points a group may lose when pruned alone (before fine-tuning). */
  threshold: number;
  /** Share of channels removed per group id. */
  ratios: Record<number, number>;
  /** Channels kept per group id. */
  kept: Record<number, number>;
  /** Network MACs per image. */
  macs: number;
  /** After fine-tuning. */
  validationAccuracy: number;
  drop: number;
  /** The drop plus the margin certification would add to it (the bound it is predicted to certify at). */
  upperBound: number;
  withinTolerance: boolean;
}

export interface SensitivityResult {
  baseAccuracy: number;
  curves: SensitivityCurve[];
  /** The largest threshold whose plan stayed within the tolerance; undefined when none did (nothing pruned). */
  threshold?: number;
  /** Share of channels removed per group id (all 0 when nothing was pruned). */
  ratios: Record<number, number>;
  model: tf.LayersModel;
  validationAccuracy: number;
  probes: SensitivityProbe[];
  /** The plans accepted before the chosen one, least pruned first, as models (the caller disposes them). */
  path: PathModel[];
}

export type SensitivityEvent = { type: 'group-measured'; curve: SensitivityCurve } | FinetuneProgress | { type: 'probe-done'; probe: SensitivityProbe };

/** Each group's largest measured ratio whose drop is at most `threshold` (0 if none), by group id. */
export function ratiosAtThreshold(curves: SensitivityCurve[], threshold: number): Record<number, number> {
  return Object.fromEntries(curves.map((c) => [c.groupId, Math.max(0, ...c.points.filter((p) => p.drop <= threshold).map((p) => p.ratio))]));
}

/**
 * The thresholds worth trying, ascending: the measured drops, each kept only
 * where it raises some group's ratio (the plans between two of them are the same).
 */
export function candidateThresholds(curves: SensitivityCurve[]): number[] {
  const drops = [...new Set(curves.flatMap((c) => c.points.map((p) => p.drop)))].sort((a, b) => a - b);
  const thresholds: number[] = [];
  let previous = ratiosAtThreshold(curves, -Infinity);
  for (const threshold of drops) {
    const ratios = ratiosAtThreshold(curves, threshold);
    if (curves.some((c) => ratios[c.groupId] !== previous[c.groupId])) thresholds.push(threshold);
    previous = ratios;
  }
  return thresholds;
}

/** Bisection over indexes into the candidate thresholds: every probe tries a plan no other probe tried. */
const halvingIndexes = (low: number, high: number) => (high - low > 1 ? Math.floor((low + high) / 2) : undefined);

/**
 * Measures every prunable group's sensitivity (costs evaluations only), then
 * bisects the threshold for the most pruning whose fine-tuned validation
 * accuracy stays within the tolerance.
 */
export async function pruneBySensitivity(
  model: tf.LayersModel,
  data: Dataset,
  config: SensitivityConfig,
  search: Pick<ToleranceSearch, 'tolerance' | 'maxProbes' | 'confidence' | 'certificationImages' | 'start'>,
  emit: (event: SensitivityEvent) => void = () => {},
  signal?: AbortSignal,
): Promise<SensitivityResult> {
  checkModelArgument(model, 'pruneBySensitivity');
  checkDataArgument(data, 'pruneBySensitivity');
  const check = await selectionCheckOf(model, data, search);
  const baseAccuracy = check.baseAccuracy;
  const graph = buildGraph(model);
  const groups = graph.prunableGroups();
  const scores = scoreGroups('l1', { graph, seed: 0 }, groups);
  const originalSize = new Map(groups.map((g) => [g.id, g.size]));

  const { curveSplit, curveBase } = await curveImagesOf(model, data, config.curveImages, baseAccuracy);
  const curves: SensitivityCurve[] = [];
  for (const group of groups) {
    if (signal?.aborted) throw new InterruptedError(`stopped while measuring the sensitivity curves, at group ${group.id}`);
    // Small groups round several ratios to the same channel count: each count is evaluated once.
    const accuracyByKept = new Map([[group.size, curveBase]]);
    const points: SensitivityPoint[] = [];
    for (const ratio of config.ratios) {
      const plan = roundPlanUp(
        localPlan([group], scores, originalSize, () => ratio, config.minKeepFraction),
        [group],
        scores,
        config.widthMultiple,
      );
      const kept = plan.get(group.id)!.length;
      if (!accuracyByKept.has(kept)) {
        const pruned = await pruneModel(graph, plan);
        accuracyByKept.set(kept, await evaluateAccuracy(pruned, curveSplit, data.inputShape));
        pruned.dispose();
      }
      const validationAccuracy = accuracyByKept.get(kept)!;
      points.push({ ratio, kept, validationAccuracy, drop: 100 * (curveBase - validationAccuracy) });
    }
    const curve = { groupId: group.id, producers: group.producers, size: group.size, points };
    curves.push(curve);
    emit({ type: 'group-measured', curve });
  }

  const thresholds = candidateThresholds(curves);
  const attempt = async (index: number) => {
    const ratios = ratiosAtThreshold(curves, thresholds[index]);
    const plan = roundPlanUp(
      localPlan(groups, scores, originalSize, (g) => ratios[g.id], config.minKeepFraction),
      groups,
      scores,
      config.widthMultiple,
    );
    const pruned = await pruneModel(graph, plan);
    // Step 1: the batch order a criterion's one-shot probe fine-tunes with.
    const { validationAccuracy, validationAnswers } = await finetuneStep(pruned, data, config.finetune, 1, emit, model, signal);
    return { model: pruned, validationAccuracy, validationAnswers, ratios, kept: keptCounts(plan), macs: modelCost(pruned).macs };
  };
  const probes: SensitivityProbe[] = [];
  const accepted = await largestWithinTolerance(
    check,
    { low: -1, high: thresholds.length - 1, ...(search.start === 'low' && { first: 0 }), maxProbes: search.maxProbes, next: halvingIndexes },
    attempt,
    ({ value, attempt: tried, drop, upperBound, withinTolerance }) => {
      const probe = {
        probe: probes.length + 1,
        threshold: thresholds[value],
        ratios: tried.ratios,
        kept: tried.kept,
        macs: tried.macs,
        validationAccuracy: tried.validationAccuracy,
        drop,
        upperBound,
        withinTolerance,
      };
      probes.push(probe);
      emit({ type: 'probe-done', probe });
    },
  );
  const best = accepted.pop();
  const path = accepted.map(({ value, attempt: { model } }) => ({ label: `threshold ${thresholds[value].toFixed(2)}`, model }));
  if (best === undefined)
    return {
      baseAccuracy,
      curves,
      ratios: ratiosAtThreshold(curves, -Infinity),
      model: await cloneModel(model),
      validationAccuracy: baseAccuracy,
      probes,
      path,
    };
  const { model: pruned, validationAccuracy, ratios } = best.attempt;
  return { baseAccuracy, curves, threshold: thresholds[best.value], ratios, model: pruned, validationAccuracy, probes, path };
}

/** The images the curves are measured on (the validation split's first `curveImages`, or all of it) and the unpruned model's accuracy there. */
async function curveImagesOf(model: tf.LayersModel, data: Dataset, curveImages: number | undefined, baseAccuracy: number) {
  if (curveImages === undefined || curveImages >= data.validation.count) return { curveSplit: data.validation, curveBase: baseAccuracy };
  const curveSplit = subsetSplit(
    data.validation,
    Array.from({ length: curveImages }, (_, i) => i),
    data.inputShape,
  );
  return { curveSplit, curveBase: await evaluateAccuracy(model, curveSplit, data.inputShape) };
}
