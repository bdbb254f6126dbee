import { render } from 'ink-testing-library';
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { Dashboard } from '../../src/cli/dashboard.js';
import { ProgressLog } from '../../src/cli/log.js';
import { presenter } from '../../src/cli/presenter.js';
import { initialState, reduce, remainingSeconds, sparkline, timeLeftText } from '../../src/run/progress-state.js';
import type { RunEvent } from '../../src/run/try-and-learn.js';

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
  validationAccuracy: 0.99,
};
const iteration = (i: number, meanReward: number): RunEvent => ({
  type: 'iteration',
  groupId: 0,
  minIterations: 50,
  maxIterations: 250,
  floor: 0.983,
  record: {
    iteration: i,
    meanReward,
    bestReward: meanReward + 0.1,
    meanAccuracy: 0.989,
    meanKept: 15,
    greedyKept: 14,
    entropy: 0.2,
    imagesScored: 5000,
    seconds: 0.5,
  },
});
const decision = {
  groupId: 0,
  producers: ['conv1'],
  size: 20,
  kept: Array.from({ length: 11 }, (_, i) => i),
  probabilities: [],
  agentKept: 11,
  relaxed: 0,
  probes: [],
  allowedDrop: 0.5,
  rewardBudget: { reference: 0.99, tolerance: 1.5 },
  converged: true,
  iterations: [],
  evaluations: 0,
  validationAccuracy: 0.991,
  macs: 1_000_000,
  params: 400_000,
  checkpoint: 'x',
  seconds: 60,
};

/** ink writes frames asynchronously: poll until the frame shows what we expect. */
async function frameMatching(lastFrame: () => string | undefined, pattern: RegExp): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const frame = lastFrame() ?? '';
    if (pattern.test(frame)) return frame;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no frame matched ${pattern}; last frame:\n${lastFrame()}`);
}

const groupStart = (groupId: number, size: number, producers: string[], allowedDrop: number): RunEvent => ({
  type: 'group-start',
  groupId,
  index: groupId,
  count: 2,
  size,
  producers,
  allowedDrop,
  activationCache: { place: 'backend', bytes: 1e6 },
});

describe('dashboard state', () => {
  it('folds events into group rows, the search, fine-tuning, the validation floor and reductions', () => {
    let s = reduce(initialState(0), start, 0);
    expect(s.groups.map((g) => g.status)).toEqual(['waiting', 'waiting']);
    expect([s.baseValidation, s.validation]).toEqual([0.99, 0.99]);
    s = reduce(s, groupStart(0, 20, ['conv1'], 0.4), 0);
    expect(s.groupAllowedDrop).toBe(0.4);
    s = [0.1, 0.3, 0.2].reduce((acc, r, i) => reduce(acc, iteration(i + 1, r), 1000 * (i + 1)), s);
    expect(s.groups[0].status).toBe('searching');
    expect(s.search).toMatchObject({ rewards: [0.1, 0.3, 0.2], greedyKept: 14, sampledKept: 15, floor: 0.983 });
    s = reduce(
      s,
      { type: 'finetune-progress', groupId: 0, progress: { epoch: 1, epochs: 1, batch: 10, batches: 20, loss: 0.1, imagesPerSecond: 500 } },
      20_000,
    );
    expect(s.groups[0].status).toBe('fine-tuning');
    s = reduce(s, { type: 'group-done', decision, originalMacs: 2_000_000, originalParams: 800_000 }, 60_000);
    expect(s.groups[0]).toMatchObject({ status: 'done', kept: 11 });
    expect([s.flopsReduction, s.paramsReduction, s.validation]).toEqual([2, 2, 0.991]);
    // A compare's agent run ends with its search: the compare finishes its model.
    const searched = reduce(
      s,
      { type: 'search-done', groups: [decision], totals: { seconds: 60, evaluationsPerSecond: 2, candidateImagesPerSecond: 400 } },
      61_000,
    );
    expect(searched.done?.lines).toEqual(['the agent decided 1 group; the compare fine-tunes and certifies its final model']);
    expect(searched.flopsReduction).toBe(2);
    // A resumed run shows the accuracy after the groups already decided, not the unpruned one.
    const resumed = reduce(initialState(0), { ...start, resumedGroups: 1, validationAccuracy: 0.985 } as RunEvent, 0);
    expect([resumed.validation, resumed.groups[0].status]).toEqual([0.985, 'done']);
  });

  it('estimates the time left as a range from the measured steps, counts down within a group and through the final fine-tune', () => {
    let s = reduce(reduce(initialState(0), start, 0), groupStart(0, 20, ['conv1'], 0.4), 0);
    expect(remainingSeconds(s, 0)).toBeUndefined();
    // 3 iterations in 10 s: a search takes 50 (the stop rule's earliest) to 250 iterations, fine-tuning not yet timed.
    s = reduce(s, iteration(3, 0.1), 10_000);
    const early = remainingSeconds(s, 10_000)!;
    expect(early.searchOnly).toBe(true);
    expect(early.low).toBeCloseTo(2 * ((10 * 50) / 3) - 10, 6);
    expect(early.high).toBeCloseTo(2 * ((10 * 250) / 3) - 10, 6);
    expect(timeLeftText(early)).toBe('about 5m23s to 27m37s left (estimate, without fine-tuning: none timed yet)');
    // Past the earliest stop, the low end follows the iterations run so far.
    const late = remainingSeconds(reduce(s, iteration(100, 0.1), 100_000), 100_000)!;
    expect(late.low).toBeCloseTo(100, 6); // 1 s an iteration: this group may stop now, the other takes at least 100 s
    // Fine-tuning after a search of 3 iterations in 10 s: the other group's search takes about that.
    const tuning = reduce(
      s,
      { type: 'finetune-progress', groupId: 0, progress: { epoch: 1, epochs: 1, batch: 20, batches: 100, loss: 0.1, imagesPerSecond: 500 } },
      30_000,
    );
    expect(remainingSeconds(tuning, 40_000)).toEqual({ low: 10, high: 10, searchOnly: true });
    s = reduce(s, { type: 'group-done', decision, originalMacs: 2_000_000, originalParams: 800_000 }, 60_000);
    expect(remainingSeconds(s, 60_000)).toEqual({ low: 60, high: 60, searchOnly: false }); // 60 s per group x 1 group left
    expect(timeLeftText(remainingSeconds(s, 60_000)!)).toBe('about 1m00s left (estimate)');
    s = reduce(s, groupStart(1, 50, ['conv2'], 1), 60_000);
    expect(remainingSeconds(s, 90_000)).toEqual({ low: 30, high: 30, searchOnly: false });
    expect(remainingSeconds(s, 200_000)).toEqual({ low: 0, high: 0, searchOnly: false });
    const final = (batch: number): RunEvent => ({
      type: 'finetune-progress',
      groupId: 'final',
      progress: { epoch: 1, epochs: 1, batch, batches: 100, loss: 0.1, imagesPerSecond: 500 },
    });
    s = reduce(reduce(s, final(10), 100_000), final(20), 110_000);
    // 10% more of it in the 10 s since its first report (at 10%): 80% left takes 80 s.
    expect(remainingSeconds(s, 110_000)!.low).toBeCloseTo(80, 6);
  });

  it("counts down from the run's estimate until a group has been timed, then follows the measured groups", () => {
    let s = reduce(reduce(initialState(0), { ...start, estimate: [300, 600] } as RunEvent, 0), groupStart(0, 20, ['conv1'], 0.4), 0);
    expect(remainingSeconds(s, 100_000)).toEqual({ low: 200, high: 500, searchOnly: false });
    s = reduce(s, iteration(3, 0.1), 110_000);
    expect(remainingSeconds(s, 110_000)).toEqual({ low: 190, high: 490, searchOnly: false });
    // The first group took 60 s: one group left, 60 s, whatever the estimate said.
    s = reduce(s, { type: 'group-done', decision: { ...decision, seconds: 60 }, originalMacs: 2_000_000, originalParams: 800_000 }, 120_000);
    expect(remainingSeconds(s, 120_000)).toEqual({ low: 60, high: 60, searchOnly: false });
  });

  it('spans the fastest to the slowest finished group for the groups left', () => {
    const three = { ...start, groups: [...(start as { groups: object[] }).groups, { id: 2, size: 500, producers: ['fc1'] }] } as RunEvent;
    let s = reduce(initialState(0), three, 0);
    s = reduce(
      reduce(s, groupStart(0, 20, ['conv1'], 0.4), 0),
      { type: 'group-done', decision: { ...decision, seconds: 40 }, originalMacs: 2, originalParams: 2 },
      40_000,
    );
    s = reduce(
      reduce(s, groupStart(1, 50, ['conv2'], 0.4), 40_000),
      { type: 'group-done', decision: { ...decision, groupId: 1, seconds: 100 }, originalMacs: 2, originalParams: 2 },
      140_000,
    );
    expect(remainingSeconds(s, 140_000)).toEqual({ low: 40, high: 100, searchOnly: false });
    expect(timeLeftText(remainingSeconds(s, 140_000)!)).toBe('about 0m40s to 1m40s left (estimate)');
    expect(timeLeftText({ low: 119.6, high: 119.6, searchOnly: false })).toBe('about 2m00s left (estimate)'); // rounded before it is split
  });

  it('scales the sparkline to the 10th-90th percentiles, so one outlier does not flatten the rest', () => {
    expect(sparkline([0, 1, 0.5])).toBe('▁█▅');
    const rewards = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 0.55];
    const withOutlier = sparkline([...rewards, -50]);
    expect(withOutlier.at(-1)).toBe('▁');
    expect(new Set(withOutlier.slice(0, -1)).size).toBeGreaterThan(4); // the ordinary values still spread over the levels
  });
});

describe('dashboard view', () => {
  it('renders the live run from the event stream, throttled', async () => {
    const events = new Subject<RunEvent>();
    const { lastFrame, unmount } = render(<Dashboard events={events} intervalMs={20} />);
    events.next(start);
    let frame = await frameMatching(lastFrame, /lenet5 on mnist · backend wasm · tolerance 1 pt · seed 3/);
    expect(frame).toMatch(/waiting\s+group 0 conv1\s+20 filters/);
    events.next(groupStart(0, 20, ['conv1'], 0.4));
    for (let i = 1; i <= 30; i++) events.next(iteration(i, Math.sin(i / 4)));
    frame = await frameMatching(lastFrame, /iteration 30\/250/);
    expect(frame).toMatch(/searching\s+group 0 conv1/);
    expect(frame).toMatch(/greedy keeps 14\/20 \(70%\) · samples keep 15\.0 · entropy 0\.200/);
    expect(frame).toMatch(/mean reward [▁▂▃▄▅▆▇█]{30} /);
    expect(frame).toMatch(/reward images, before fine-tuning: samples 98\.90% · reward budget ≥ 98\.30%/);
    expect(frame).toMatch(/validation 99\.00% · floor 98\.00% \(unpruned 99\.00% - 1 pt\) · after this group ≥ 98\.60%/);
    expect(frame).toMatch(/\nabout \d+m\d\ds( to \d+m\d\ds)? left \(estimate, without fine-tuning: none timed yet\)/);
    events.next({ type: 'finetune-progress', groupId: 0, progress: { epoch: 1, epochs: 2, batch: 50, batches: 100, loss: 0.1, imagesPerSecond: 500 } });
    frame = await frameMatching(lastFrame, /fine-tuning group 0: █+░+ epoch 1\/2/);
    events.next({ type: 'group-done', decision, originalMacs: 2_000_000, originalParams: 800_000 });
    frame = await frameMatching(lastFrame, /done\s+group 0 conv1\s+11\/20 kept/);
    expect(frame).toMatch(/FLOPs 2\.00x · params 2\.00x · elapsed \dm\d\ds\nabout 1m00s left \(estimate\)/);
    expect(frame).toMatch(/validation 99\.10% · floor 98\.00%/);
    unmount();
  });
});

describe('plain lines (not a terminal, or --no-tui)', () => {
  it('print each group as it finishes and the time left after every group but the last', async () => {
    const written: string[] = [];
    const stream = { isTTY: false, write: (text: string) => written.push(text) } as unknown as NodeJS.WriteStream;
    const view = await presenter({ json: false, dashboard: false }, new ProgressLog(stream, false));
    view.onEvent(start);
    view.onEvent(groupStart(0, 20, ['conv1'], 0.4));
    view.onEvent({ type: 'group-done', decision, originalMacs: 2_000_000, originalParams: 800_000 });
    view.onEvent({ ...groupStart(1, 50, ['conv2'], 1), activationCache: { place: 'host', bytes: 1.5 * 2 ** 30 } } as RunEvent);
    view.onEvent({ type: 'group-done', decision: { ...decision, groupId: 1 }, originalMacs: 2_000_000, originalParams: 800_000 });
    await view.close();
    const lines = written.join('').split('\n');
    const groupLines = lines.flatMap((line, i) => (/^group \d: kept/.test(line) ? [i] : []));
    expect(groupLines).toHaveLength(2);
    expect(lines[groupLines[0] + 1]).toBe('  about 1m00s left (estimate)'); // the finished group took 60 s, one group is left
    expect(lines.filter((line) => line.includes('left (estimate'))).toHaveLength(1);
    // Where the activations are kept is said only when it is not the backend.
    expect(lines.filter((line) => line.includes('activations'))).toEqual([
      expect.stringMatching(/^group 1 .*; its activations \(1\.50? GiB\) are kept in host memory/),
    ]);
  });
});
