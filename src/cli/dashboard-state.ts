/**
 * What the dashboard shows, as a pure fold over the run's events: the ink
 * component only renders this state, so the bookkeeping is tested on its own.
 */
import type { RunEvent } from '../run/try-and-learn.js';

export type GroupStatus = 'waiting' | 'searching' | 'fine-tuning' | 'done';

export interface DashboardState {
  model: string;
  dataset: string;
  backend: string;
  tolerance: number;
  seed: number;
  startedAt: number;
  /** Validation accuracy (percent, the split that enforces the tolerance) of the unpruned model, and after the last decided group. */
  baseValidation: number;
  validation: number;
  /** Validation points the run may have lost once the current group is decided (its share of the tolerance). */
  groupAllowedDrop?: number;
  groups: { id: number; producers: string[]; size: number; kept?: number; status: GroupStatus; seconds?: number }[];
  /** When the current group started (ms). */
  groupStartedAt?: number;
  /** The group being searched: the agent's latest iteration. floor: the reward's budget (reward images, before fine-tuning). */
  search?: { groupId: number; iteration: number; maxIterations: number; rewards: number[]; accuracy: number; floor: number; greedyKept: number; sampledKept: number; size: number; entropy: number };
  /** startedAt: when this fine-tune's first progress arrived (ms). */
  finetune?: { label: string; epoch: number; epochs: number; batch: number; batches: number; startedAt: number };
  flopsReduction: number;
  paramsReduction: number;
  done?: { lines: string[] };
  error?: string;
}

/** How many recent mean rewards the sparkline keeps. */
export const SPARKLINE_WIDTH = 40;

export function initialState(now = Date.now()): DashboardState {
  return { model: '', dataset: '', backend: '', tolerance: 0, seed: 0, startedAt: now, baseValidation: NaN, validation: NaN, groups: [], flopsReduction: 1, paramsReduction: 1 };
}

/** The state after `event`, which arrived at `now` (ms). */
export function reduce(state: DashboardState, event: RunEvent, now = Date.now()): DashboardState {
  switch (event.type) {
    case 'run-start':
      return {
        ...state,
        model: event.model,
        dataset: event.dataset,
        backend: event.backend,
        tolerance: event.tolerance,
        seed: event.seed,
        baseValidation: 100 * event.baseValidationAccuracy,
        validation: 100 * event.baseValidationAccuracy,
        groups: event.groups.map((g, i) => ({ ...g, status: i < event.resumedGroups ? 'done' : 'waiting' })),
      };
    case 'group-start':
      return {
        ...state,
        groups: state.groups.map((g) => (g.id === event.groupId ? { ...g, status: 'searching' } : g)),
        groupStartedAt: now,
        groupAllowedDrop: event.allowedDrop,
        search: { groupId: event.groupId, iteration: 0, maxIterations: 0, rewards: [], accuracy: NaN, floor: NaN, greedyKept: event.size, sampledKept: event.size, size: event.size, entropy: NaN },
        finetune: undefined,
      };
    case 'iteration': {
      const r = event.record;
      const previous = state.search?.groupId === event.groupId ? state.search.rewards : [];
      return {
        ...state,
        search: {
          groupId: event.groupId,
          iteration: r.iteration,
          maxIterations: event.maxIterations,
          rewards: [...previous, r.meanReward].slice(-SPARKLINE_WIDTH),
          accuracy: r.meanAccuracy,
          floor: event.floor,
          greedyKept: r.greedyKept,
          sampledKept: r.meanKept,
          size: state.groups.find((g) => g.id === event.groupId)?.size ?? r.greedyKept,
          entropy: r.entropy,
        },
      };
    }
    case 'finetune-progress': {
      const p = event.progress;
      const groups = state.groups.map((g) => (g.id === event.groupId ? { ...g, status: 'fine-tuning' as const } : g));
      const label = event.groupId === 'final' ? 'final model' : `group ${event.groupId}`;
      // A new fine-tune (another probe, or the final one) restarts its clock.
      const continuing = state.finetune?.label === label && state.finetune.epoch * state.finetune.batches + state.finetune.batch <= p.epoch * p.batches + p.batch;
      return { ...state, groups, finetune: { label, epoch: p.epoch, epochs: p.epochs, batch: p.batch, batches: p.batches, startedAt: continuing ? state.finetune!.startedAt : now } };
    }
    case 'group-done': {
      const d = event.decision;
      return {
        ...state,
        groups: state.groups.map((g) => (g.id === d.groupId ? { ...g, status: 'done', kept: d.kept.length, seconds: d.seconds } : g)),
        flopsReduction: event.originalMacs / d.macs,
        paramsReduction: event.originalParams / d.params,
        validation: 100 * d.validationAccuracy,
        groupStartedAt: undefined,
        groupAllowedDrop: undefined,
        search: undefined,
        finetune: undefined,
      };
    }
    case 'run-done': {
      const r = event.summary.report;
      return {
        ...state,
        flopsReduction: r.theoreticalSpeedup,
        paramsReduction: r.compressionRatio,
        finetune: undefined,
        done: { lines: [`test accuracy ${(100 * r.pruned.testAccuracy).toFixed(2)}% (drop ${r.testDrop.toFixed(2)} points)`, `saved ${event.summary.modelPath}`] },
      };
    }
    case 'error':
      return { ...state, error: event.message };
  }
}

/**
 * Seconds left and how they were estimated. Per group: the mean time of the
 * groups finished in this session, or before any has, the current group's
 * search so far extrapolated to its iteration limit (fine-tuning not yet
 * seen, so a lower bound). The current group counts down from its estimate;
 * the final fine-tune, once it runs, is extrapolated from its progress.
 */
export function remainingSeconds(state: DashboardState, now = Date.now()): { seconds: number; lowerBound: boolean } | undefined {
  const { finetune } = state;
  if (finetune?.label === 'final model') {
    const done = ((finetune.epoch - 1) * finetune.batches + finetune.batch) / (finetune.epochs * finetune.batches);
    return done > 0 ? { seconds: ((now - finetune.startedAt) / 1000) * (1 / done - 1), lowerBound: false } : undefined;
  }
  const finished = state.groups.filter((g) => g.status === 'done' && g.seconds !== undefined);
  const inGroup = state.groupStartedAt === undefined ? 0 : (now - state.groupStartedAt) / 1000;
  let perGroup: number;
  let lowerBound = false;
  if (finished.length > 0) perGroup = finished.reduce((s, g) => s + g.seconds!, 0) / finished.length;
  else if (state.search !== undefined && state.search.iteration > 0) {
    perGroup = (inGroup * state.search.maxIterations) / state.search.iteration;
    lowerBound = true;
  } else return undefined;
  const current = state.groups.some((g) => g.status === 'searching' || g.status === 'fine-tuning') ? Math.max(0, perGroup - inGroup) : 0;
  return { seconds: current + perGroup * state.groups.filter((g) => g.status === 'waiting').length, lowerBound };
}

const BLOCKS = '▁▂▃▄▅▆▇█';

/** A value's quantile q in [0, 1] (linear between order statistics). */
function quantile(sorted: number[], q: number): number {
  const at = q * (sorted.length - 1);
  const below = Math.floor(at);
  return sorted[below] + (sorted[Math.min(below + 1, sorted.length - 1)] - sorted[below]) * (at - below);
}

/** Bars scaled to the 10th-90th percentile range, so one outlier does not flatten the rest (outliers clip to the ends). */
export function sparkline(values: number[]): string {
  if (values.length === 0) return '';
  const sorted = [...values].sort((a, b) => a - b);
  const [min, max] = values.length >= 10 ? [quantile(sorted, 0.1), quantile(sorted, 0.9)] : [sorted[0], sorted[sorted.length - 1]];
  const level = (v: number) => (max === min ? 3 : Math.round(Math.min(1, Math.max(0, (v - min) / (max - min))) * (BLOCKS.length - 1)));
  return values.map((v) => BLOCKS[level(v)]).join('');
}
export function bar(fraction: number, width = 30): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return '█'.repeat(filled) + '░'.repeat(width - filled);
}
