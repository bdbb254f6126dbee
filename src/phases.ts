/**
 * Where a run's time goes. A run measures its work inside `withPhaseClock`;
 * the library's steps mark themselves with `timed('finetune', ...)` and the
 * like, wherever they are called from. Times are exclusive (a phase nested in
 * another is taken out of the outer one), so a run's phases add up to at most
 * its wall time; what no phase claims is `other`. The clock travels with the
 * async context (AsyncLocalStorage): two runs in one process keep apart, and
 * a step called outside any run costs one lookup.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { formatDuration } from './text.js';

export const PHASES = {
  setup: 'setup (splits, unpruned model, caches)',
  scoring: 'candidate scoring',
  recovery: 'recovery (main thread)',
  criteria: 'criterion scores',
  surgery: 'pruning surgery',
  finetune: 'fine-tunes',
  bounds: 'bounds and certification',
  report: 'report (test split)',
  latency: 'latency timing',
  io: 'I/O (models, records)',
} as const;

export type Phase = keyof typeof PHASES;

/** Seconds by phase; `other` is wall time no phase claimed. */
export type PhaseSeconds = Partial<Record<Phase | 'other', number>>;

export class PhaseClock {
  readonly seconds: Partial<Record<Phase, number>> = {};
  private readonly started = performance.now();

  add(phase: Phase, seconds: number): void {
    this.seconds[phase] = (this.seconds[phase] ?? 0) + seconds;
  }

  /** Seconds by phase since the clock started, `other` the rest of its wall time. */
  split(): PhaseSeconds {
    return splitOf(this.seconds, (performance.now() - this.started) / 1000);
  }

  private lastLap = { at: this.started, seconds: {} as Partial<Record<Phase, number>> };

  /** Seconds by phase since the last lap (or the start): one group's share of a run. */
  lap(): PhaseSeconds {
    const now = performance.now();
    const since: Partial<Record<Phase, number>> = {};
    for (const [phase, seconds] of Object.entries(this.seconds) as [Phase, number][]) since[phase] = seconds - (this.lastLap.seconds[phase] ?? 0);
    const wall = (now - this.lastLap.at) / 1000;
    this.lastLap = { at: now, seconds: { ...this.seconds } };
    return splitOf(since, wall);
  }
}

function splitOf(seconds: Partial<Record<Phase, number>>, wall: number): PhaseSeconds {
  const claimed = Object.values(seconds).reduce((sum, s) => sum + s, 0);
  return { ...seconds, other: Math.max(0, wall - claimed) };
}

interface Frame {
  clock: PhaseClock;
  phase?: Phase;
}

const frames = new AsyncLocalStorage<Frame>();

/** Runs `work` with `clock` measuring the phases of everything it calls. */
export function withPhaseClock<T>(clock: PhaseClock, work: () => Promise<T>): Promise<T> {
  return frames.run({ clock }, work);
}

/** Runs `work` as `phase` of the current run's clock (its time taken out of the enclosing phase); outside a run, just runs it. */
export async function timed<T>(phase: Phase, work: () => Promise<T>): Promise<T> {
  const frame = frames.getStore();
  if (frame === undefined) return work();
  const started = performance.now();
  try {
    return await frames.run({ clock: frame.clock, phase }, work);
  } finally {
    const seconds = (performance.now() - started) / 1000;
    frame.clock.add(phase, seconds);
    if (frame.phase !== undefined) frame.clock.add(frame.phase, -seconds);
  }
}

/** The same as `timed`, for synchronous work. */
export function timedSync<T>(phase: Phase, work: () => T): T {
  const frame = frames.getStore();
  if (frame === undefined) return work();
  const started = performance.now();
  try {
    return frames.run({ clock: frame.clock, phase }, work);
  } finally {
    const seconds = (performance.now() - started) / 1000;
    frame.clock.add(phase, seconds);
    if (frame.phase !== undefined) frame.clock.add(frame.phase, -seconds);
  }
}

/** Sums of several splits (a run's groups, a row's search and finish). */
export function addPhases<S extends Partial<Record<string, number>>>(...splits: (S | undefined)[]): S {
  const sum: Partial<Record<string, number>> = {};
  for (const split of splits) for (const [phase, seconds] of Object.entries(split ?? {})) sum[phase] = (sum[phase] ?? 0) + (seconds ?? 0);
  return sum as S;
}

/** "fine-tunes 12m 3s (61%), candidate scoring 5m (25%), ...", largest first, phases under half a second left out. */
export function formatPhases(split: Partial<Record<string, number>>): string {
  const total = Object.values(split).reduce((sum: number, s) => sum + (s ?? 0), 0);
  // A record of a later version may name a phase this one does not know.
  const label = (phase: string) => (Object.hasOwn(PHASES, phase) ? PHASES[phase as Phase] : phase);
  return (Object.entries(split).filter(([, s]) => s !== undefined) as [string, number][])
    .filter(([, seconds]) => seconds >= 0.5)
    .sort((a, b) => b[1] - a[1])
    .map(([phase, seconds]) => `${label(phase)} ${formatDuration(seconds)} (${Math.round((100 * seconds) / total)}%)`)
    .join(', ');
}
