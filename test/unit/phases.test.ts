import { describe, expect, it } from 'vitest';
import { addPhases, formatPhases, PhaseClock, timed, timedSync, withPhaseClock } from '../../src/phases.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const busy = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

describe('phase clock', () => {
  it('outside a run, timed steps just run', async () => {
    expect(await timed('finetune', async () => 7)).toBe(7);
    expect(timedSync('criteria', () => 8)).toBe(8);
  });

  it('takes a nested phase out of the enclosing one, and leaves the rest to other', async () => {
    const clock = new PhaseClock();
    await withPhaseClock(clock, async () => {
      await timed('scoring', async () => {
        await sleep(60);
        timedSync('recovery', () => busy(40));
      });
      await sleep(50);
    });
    const split = clock.split();
    expect(split.scoring).toBeGreaterThan(0.05);
    expect(split.scoring).toBeLessThan(0.3); // loose: a loaded machine sleeps longer
    expect(split.recovery).toBeGreaterThan(0.035);
    expect(split.other).toBeGreaterThan(0.04);
    const total = Object.values(split).reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(0.14);
    expect(total).toBeLessThan(0.6);
  });

  it('keeps two runs in one process apart, and laps a run into its groups', async () => {
    const [a, b] = [new PhaseClock(), new PhaseClock()];
    const laps: ReturnType<PhaseClock['lap']>[] = [];
    await Promise.all([
      withPhaseClock(a, async () => {
        a.lap();
        await timed('finetune', () => sleep(40));
        laps.push(a.lap());
        await timed('bounds', () => sleep(30));
        laps.push(a.lap());
      }),
      withPhaseClock(b, () => timed('io', () => sleep(60))),
    ]);
    expect(Object.keys(a.seconds).sort()).toEqual(['bounds', 'finetune']);
    expect(Object.keys(b.seconds)).toEqual(['io']);
    expect(laps[0].finetune).toBeGreaterThan(0.03);
    expect(laps[0].bounds).toBeUndefined();
    expect(laps[1].finetune).toBe(0);
    expect(laps[1].bounds).toBeGreaterThan(0.02);
  });

  it('adds splits and formats them largest first, naming what a later version added', () => {
    const sum = addPhases<Record<string, number>>({ finetune: 100, scoring: 30 }, undefined, { finetune: 20, other: 0.2, warp: 5 });
    expect(sum).toEqual({ finetune: 120, scoring: 30, other: 0.2, warp: 5 });
    expect(formatPhases(sum)).toBe('fine-tunes 2m00s (77%), candidate scoring 30s (19%), warp 5s (3%)');
  });
});
