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
  groups: { id: number; producers: string[]; size: number; kept?: number; status: GroupStatus; seconds?: number }[];
  /** The group being searched: the agent's latest iteration. */
  search?: { groupId: number; iteration: number; maxIterations: number; rewards: number[]; accuracy: number; floor: number; kept: number; size: number; entropy: number };
  finetune?: { label: string; epoch: number; epochs: number; batch: number; batches: number };
  flopsReduction: number;
  paramsReduction: number;
  done?: { lines: string[] };
  error?: string;
}

/** How many recent mean rewards the sparkline keeps. */
export const SPARKLINE_WIDTH = 40;

export function initialState(now = Date.now()): DashboardState {
  return { model: '', dataset: '', backend: '', tolerance: 0, seed: 0, startedAt: now, groups: [], flopsReduction: 1, paramsReduction: 1 };
}

export function reduce(state: DashboardState, event: RunEvent): DashboardState {
  switch (event.type) {
    case 'run-start':
      return {
        ...state,
        model: event.model,
        dataset: event.dataset,
        backend: event.backend,
        tolerance: event.tolerance,
        seed: event.seed,
        groups: event.groups.map((g, i) => ({ ...g, status: i < event.resumedGroups ? 'done' : 'waiting' })),
      };
    case 'group-start':
      return {
        ...state,
        groups: state.groups.map((g) => (g.id === event.groupId ? { ...g, status: 'searching' } : g)),
        search: { groupId: event.groupId, iteration: 0, maxIterations: 0, rewards: [], accuracy: NaN, floor: NaN, kept: event.size, size: event.size, entropy: NaN },
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
          kept: r.greedyKept,
          size: state.groups.find((g) => g.id === event.groupId)?.size ?? r.greedyKept,
          entropy: r.entropy,
        },
      };
    }
    case 'finetune-progress': {
      const p = event.progress;
      const groups = state.groups.map((g) => (g.id === event.groupId ? { ...g, status: 'fine-tuning' as const } : g));
      return { ...state, groups, finetune: { label: event.groupId === 'final' ? 'final model' : `group ${event.groupId}`, epoch: p.epoch, epochs: p.epochs, batch: p.batch, batches: p.batches } };
    }
    case 'group-done': {
      const d = event.decision;
      return {
        ...state,
        groups: state.groups.map((g) => (g.id === d.groupId ? { ...g, status: 'done', kept: d.kept.length, seconds: d.seconds } : g)),
        flopsReduction: event.originalMacs / d.macs,
        paramsReduction: event.originalParams / d.params,
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
 * Seconds left: the mean time of the groups finished in this session times the
 * groups still to do (a group's search has a fixed iteration budget, whatever
 * its width); undefined before the first group finishes.
 */
export function remainingSeconds(state: DashboardState): number | undefined {
  const finished = state.groups.filter((g) => g.status === 'done' && g.seconds !== undefined);
  if (finished.length === 0) return undefined;
  const perGroup = finished.reduce((s, g) => s + g.seconds!, 0) / finished.length;
  return perGroup * state.groups.filter((g) => g.status !== 'done').length;
}

const BLOCKS = '▁▂▃▄▅▆▇█';

export function sparkline(values: number[]): string {
  if (values.length === 0) return '';
  const [min, max] = [Math.min(...values), Math.max(...values)];
  return values.map((v) => BLOCKS[max === min ? 3 : Math.round(((v - min) / (max - min)) * (BLOCKS.length - 1))]).join('');
}

export function bar(fraction: number, width = 30): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return '█'.repeat(filled) + '░'.repeat(width - filled);
}
