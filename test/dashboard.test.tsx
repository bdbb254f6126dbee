import { render } from 'ink-testing-library';
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { Dashboard } from '../src/cli/dashboard.js';
import { initialState, reduce, remainingSeconds, sparkline } from '../src/cli/dashboard-state.js';
import type { RunEvent } from '../src/run/try-and-learn.js';

const start: RunEvent = {
  type: 'run-start',
  runId: 'r1',
  model: 'lenet5',
  dataset: 'mnist',
  backend: 'wasm',
  tolerance: 1,
  seed: 3,
  groups: [
    { id: 0, size: 20, producers: ['conv1'] },
    { id: 1, size: 50, producers: ['conv2'] },
  ],
  baseValidationAccuracy: 0.99,
  resumedGroups: 0,
};
const iteration = (i: number, meanReward: number): RunEvent => ({
  type: 'iteration',
  groupId: 0,
  maxIterations: 250,
  floor: 98.3,
  record: { iteration: i, meanReward, bestReward: meanReward + 0.1, meanAccuracy: 98.9, meanKept: 15, greedyKept: 14, entropy: 0.2, seconds: 0.5 },
});
const decision = { groupId: 0, producers: ['conv1'], size: 20, kept: Array.from({ length: 11 }, (_, i) => i), probabilities: [], agentKept: 11, relaxed: 0, probes: [], allowedDrop: 0.5, rewardBudget: { reference: 99, tolerance: 1.5 }, converged: true, iterations: [], evaluations: 0, validationAccuracy: 0.991, macs: 1_000_000, params: 400_000, checkpoint: 'x', seconds: 60 };

/** ink writes frames asynchronously: poll until the frame shows what we expect. */
async function frameMatching(lastFrame: () => string | undefined, pattern: RegExp): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const frame = lastFrame() ?? '';
    if (pattern.test(frame)) return frame;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no frame matched ${pattern}; last frame:\n${lastFrame()}`);
}

describe('dashboard state', () => {
  it('folds events into group rows, the search, fine-tuning, reductions and an estimate', () => {
    let s = reduce(initialState(0), start);
    expect(s.groups.map((g) => g.status)).toEqual(['waiting', 'waiting']);
    s = reduce(s, { type: 'group-start', groupId: 0, index: 0, count: 2, size: 20, producers: ['conv1'] });
    s = [0.1, 0.3, 0.2].reduce((acc, r, i) => reduce(acc, iteration(i + 1, r)), s);
    expect(s.groups[0].status).toBe('searching');
    expect(s.search?.rewards).toEqual([0.1, 0.3, 0.2]);
    s = reduce(s, { type: 'finetune-progress', groupId: 0, progress: { epoch: 1, epochs: 1, batch: 10, batches: 20, loss: 0.1, imagesPerSecond: 500 } });
    expect(s.groups[0].status).toBe('fine-tuning');
    expect(remainingSeconds(s)).toBeUndefined();
    s = reduce(s, { type: 'group-done', decision, originalMacs: 2_000_000, originalParams: 800_000 });
    expect(s.groups[0]).toMatchObject({ status: 'done', kept: 11 });
    expect([s.flopsReduction, s.paramsReduction]).toEqual([2, 2]);
    expect(remainingSeconds(s)).toBe(60); // 60 s per group x 1 group left
    expect(sparkline([0, 1, 0.5])).toBe('▁█▅');
  });
});

describe('dashboard view', () => {
  it('renders the live run from the event stream, throttled', async () => {
    const events = new Subject<RunEvent>();
    const { lastFrame, unmount } = render(<Dashboard events={events} intervalMs={20} />);
    events.next(start);
    let frame = await frameMatching(lastFrame, /lenet5 on mnist · backend wasm · tolerance 1 pt · seed 3/);
    expect(frame).toMatch(/waiting\s+group 0 conv1\s+20 filters/);
    events.next({ type: 'group-start', groupId: 0, index: 0, count: 2, size: 20, producers: ['conv1'] });
    for (let i = 1; i <= 30; i++) events.next(iteration(i, Math.sin(i / 4)));
    frame = await frameMatching(lastFrame, /iteration 30\/250/);
    expect(frame).toMatch(/searching\s+group 0 conv1/);
    expect(frame).toMatch(/kept 14\/20 \(70%\) · entropy 0\.200/);
    expect(frame).toMatch(/mean reward [▁▂▃▄▅▆▇█]{30} /);
    expect(frame).toMatch(/sampled accuracy 98\.90% \(reward floor, before fine-tuning: 98\.30%\)/);
    events.next({ type: 'finetune-progress', groupId: 0, progress: { epoch: 1, epochs: 2, batch: 50, batches: 100, loss: 0.1, imagesPerSecond: 500 } });
    frame = await frameMatching(lastFrame, /fine-tuning group 0: █+░+ epoch 1\/2/);
    events.next({ type: 'group-done', decision, originalMacs: 2_000_000, originalParams: 800_000 });
    frame = await frameMatching(lastFrame, /done\s+group 0 conv1\s+11\/20 kept/);
    expect(frame).toMatch(/FLOPs 2\.00x · params 2\.00x · elapsed \dm\d\ds · about 1m00s left/);
    unmount();
  });
});
