/**
 * What the dashboard shows, as a pure fold over the run's events: the ink
 * component only renders this state, so the bookkeeping is tested on its own.
 */
import { describeCertification } from '../certify/certification.js';
import { percent, plural } from '../text.js';
import type { RunEvent } from './try-and-learn.js';

export type GroupStatus = 'waiting' | 'searching' | 'fine-tuning' | 'done';

export interface DashboardState {
  model: string;
  dataset: string;
  backend: string;
  tolerance: number;
  seed: number;
  startedAt: number;
  /** Validation accuracy (fraction, the split that enforces the tolerance) of the unpruned model, and after the last decided group. */
  baseValidation: number;
  validation: number;
  /** Validation points the run may have lost once the current group is decided (its share of the tolerance). */
  groupAllowedDrop?: number;
  groups: { id: number; producers: string[]; size: number; kept?: number; status: GroupStatus; seconds?: number }[];
  /** When the current group started (ms). */
  groupStartedAt?: number;
  /** The run's estimate before it started (seconds, low and high) and when the run started (ms): the time left until a group has been timed. */
  estimate?: { seconds: [number, number]; at: number };
  /** The group being searched: the agent's latest iteration (at lastIterationAt, ms). accuracy, floor: the samples' mean and the reward budget's lowest (fractions, reward images, before fine-tuning). */
  search?: {
    groupId: number;
    iteration: number;
    lastIterationAt: number;
    minIterations: number;
    maxIterations: number;
    rewards: number[];
    accuracy: number;
    floor: number;
    greedyKept: number;
    sampledKept: number;
    size: number;
    entropy: number;
  };
  /** startedAt: when this fine-tune's first progress arrived (ms), and the share of it done then. */
  finetune?: { label: string; epoch: number; epochs: number; batch: number; batches: number; startedAt: number; doneAtStart: number };
  flopsReduction: number;
  paramsReduction: number;
  done?: { lines: string[] };
  error?: string;
}

/** How many recent mean rewards the sparkline keeps. */
export const SPARKLINE_WIDTH = 40;

export function initialState(now = Date.now()): DashboardState {
  return {
    model: '',
    dataset: '',
    backend: '',
    tolerance: 0,
    seed: 0,
    startedAt: now,
    baseValidation: NaN,
    validation: NaN,
    groups: [],
    flopsReduction: 1,
    paramsReduction: 1,
  };
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
        baseValidation: event.baseValidationAccuracy,
        validation: event.validationAccuracy,
        groups: event.groups.map((g, i) => ({ ...g, status: i < event.resumedGroups ? 'done' : 'waiting' })),
        ...(event.estimate !== undefined && { estimate: { seconds: event.estimate, at: now } }),
      };
    case 'group-start':
      return {
        ...state,
        groups: state.groups.map((g) => (g.id === event.groupId ? { ...g, status: 'searching' } : g)),
        groupStartedAt: now,
        groupAllowedDrop: event.allowedDrop,
        search: {
          groupId: event.groupId,
          iteration: 0,
          lastIterationAt: now,
          minIterations: 0,
          maxIterations: 0,
          rewards: [],
          accuracy: NaN,
          floor: NaN,
          greedyKept: event.size,
          sampledKept: event.size,
          size: event.size,
          entropy: NaN,
        },
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
          lastIterationAt: now,
          minIterations: event.minIterations,
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
      const continuing = state.finetune?.label === label && finetuneDone(state.finetune) <= finetuneDone(p);
      const done = finetuneDone(p);
      const clock = continuing ? { startedAt: state.finetune!.startedAt, doneAtStart: state.finetune!.doneAtStart } : { startedAt: now, doneAtStart: done };
      return { ...state, groups, finetune: { label, epoch: p.epoch, epochs: p.epochs, batch: p.batch, batches: p.batches, ...clock } };
    }
    case 'group-done': {
      const d = event.decision;
      return {
        ...state,
        groups: state.groups.map((g) => (g.id === d.groupId ? { ...g, status: 'done', kept: d.kept.length, seconds: d.seconds } : g)),
        flopsReduction: event.originalMacs / d.macs,
        paramsReduction: event.originalParams / d.params,
        validation: d.validationAccuracy,
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
        done: {
          lines: [
            describeCertification(event.summary.certification),
            `test accuracy ${percent(r.pruned.testAccuracy)} (drop ${r.testDrop.toFixed(2)} points${r.testDropInterval === undefined ? '' : `, interval ${r.testDropInterval[0].toFixed(2)} to ${r.testDropInterval[1].toFixed(2)}`})`,
            `saved ${event.summary.modelPath}`,
            ...(event.summary.uncertified === undefined ? [] : [`kept the uncertified final model: ${event.summary.uncertified.modelPath}`]),
          ],
        },
      };
    }
    case 'search-done':
      return {
        ...state,
        finetune: undefined,
        done: { lines: [`the agent decided ${plural(event.groups.length, 'group')}; the compare fine-tunes and certifies its final model`] },
      };
    case 'error':
      return { ...state, error: event.message };
  }
}

/** Share of a fine-tune done at a progress report. */
export const finetuneDone = (p: { epoch: number; epochs: number; batch: number; batches: number }) =>
  ((p.epoch - 1) * p.batches + p.batch) / (p.epochs * p.batches);

/** Seconds left, estimated as a range; `searchOnly` when no fine-tune has been timed yet, so the range covers the searches alone. */
export interface TimeLeft {
  low: number;
  high: number;
  searchOnly: boolean;
}

/**
 * The time left from the measured time of the steps still to come. Once a
 * group has finished in this session: the fastest and the slowest finished
 * group's time for each group left (the current one counts down). Before:
 * the current search's time per iteration, for between the iterations it
 * has run or `minIterations` (the stop rule may end a search there), and
 * `maxIterations`, per group, fine-tuning not yet timed; once it fine-tunes,
 * its search's time for each group left (fine-tuning still not timed). The
 * final fine-tune is extrapolated from its progress. Until a group has
 * finished, a run estimated before it started (estimate.ts) counts down
 * from its estimate instead, fine-tunes included; measured times take over
 * as they come.
 */
export function remainingSeconds(state: DashboardState, now = Date.now()): TimeLeft | undefined {
  const { finetune, search } = state;
  const exactly = (seconds: number, searchOnly = false) => ({ low: seconds, high: seconds, searchOnly });
  if (finetune?.label === 'final model') {
    const progress = finetuneDone(finetune) - finetune.doneAtStart;
    return progress > 0 ? exactly(((now - finetune.startedAt) / 1000 / progress) * (1 - finetuneDone(finetune))) : undefined;
  }
  const finished = state.groups.filter((g) => g.status === 'done' && g.seconds !== undefined).map((g) => g.seconds!);
  const waiting = state.groups.filter((g) => g.status === 'waiting').length;
  const inGroup = state.groupStartedAt === undefined ? 0 : (now - state.groupStartedAt) / 1000;
  const current = state.groups.find((g) => g.status === 'searching' || g.status === 'fine-tuning');
  const left = (perGroup: number) => (current ? Math.max(0, perGroup - inGroup) : 0) + perGroup * waiting;
  if (finished.length > 0) return { low: left(Math.min(...finished)), high: left(Math.max(...finished)), searchOnly: false };
  if (state.estimate !== undefined) {
    const elapsed = (now - state.estimate.at) / 1000;
    const [low, high] = state.estimate.seconds;
    return { low: Math.max(0, low - elapsed), high: Math.max(0, high - elapsed), searchOnly: false };
  }
  if (search === undefined || search.iteration === 0 || state.groupStartedAt === undefined) return undefined;
  const perIteration = (search.lastIterationAt - state.groupStartedAt) / 1000 / search.iteration;
  if (current?.status === 'searching')
    return { low: left(perIteration * Math.max(search.minIterations, search.iteration)), high: left(perIteration * search.maxIterations), searchOnly: true };
  return exactly(perIteration * search.iteration * waiting, true);
}

export const minutes = (seconds: number) => {
  const whole = Math.round(seconds);
  return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s`;
};

/** "about 3m10s left (estimate)", or a range when the groups' times differ by more than a tenth. */
export function timeLeftText({ low, high, searchOnly }: TimeLeft): string {
  const span = high - low > 0.1 * high ? `${minutes(low)} to ${minutes(high)}` : minutes((low + high) / 2);
  return `about ${span} left (estimate${searchOnly ? ', without fine-tuning: none timed yet' : ''})`;
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
