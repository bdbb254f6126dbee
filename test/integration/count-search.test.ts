import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend/backend.js';
import { loadDataset } from '../../src/data/datasets.js';
import { loadModel } from '../../src/models/io.js';
import { onePassPoints } from '../../src/run/config.js';
import { prune } from '../../src/run/prune.js';
import type { RunEvent } from '../../src/run/try-and-learn.js';

const data = loadDataset('mnist', { validationSize: 600, trainLimit: 1000, testLimit: 300 });

/** Runs the agent with a policy that keeps every filter (keep probability 0.99, one iteration) and collects the events. */
async function keepEverything(tighten: boolean) {
  const baseline = await loadModel('src/models/pretrained/lenet5-mnist/model.json');
  const events: RunEvent[] = [];
  const { model, summary } = await prune(
    baseline,
    data,
    {
      rewardSamples: 300,
      evalBatchSize: 300,
      tighten,
      relaxSteps: 1,
      agent: { maxIterations: 1, minIterations: 0, initialKeep: 0.99, samplesPerIteration: 2 },
      finetune: { imagesPerEpoch: 128 },
      finalFinetune: { epochs: 1, imagesPerEpoch: 128 },
    },
    { onEvent: (event) => events.push(event) },
  );
  model.dispose();
  baseline.dispose();
  return { summary, finetuned: new Set(events.filter((e) => e.type === 'finetune-progress').map((e) => (e as { groupId: number | 'final' }).groupId)) };
}

describe('count search when the agent keeps a whole group', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it('does not fine-tune the unchanged model: the group stays whole with no probe', async () => {
    const { summary, finetuned } = await keepEverything(false);
    for (const g of summary.groups) {
      expect(g.agentKept).toBe(g.size);
      expect(g.kept).toHaveLength(g.size);
      expect(g.probes).toEqual([]);
      expect(g.relaxed).toBe(0);
    }
    expect([...finetuned]).toEqual(['final']);
  }, 300_000);

  it('with tightening, starts the search below the whole group', async () => {
    const { summary } = await keepEverything(true);
    for (const g of summary.groups) {
      expect(g.probes.length).toBeGreaterThan(0);
      expect(g.probes[0].kept).toBe(Math.ceil(g.size / 2));
      expect(g.relaxed).toBe(g.probes.length);
      expect(g.probes.every((p) => p.kept < g.size)).toBe(true);
    }
  }, 300_000);
});

describe('a group that cannot shrink', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it('is kept whole with no search when no allowed width is below its size (widthMultiple)', async () => {
    const baseline = await loadModel('src/models/pretrained/lenet5-mnist/model.json');
    const { model, summary } = await prune(baseline, data, {
      rewardSamples: 300,
      evalBatchSize: 300,
      widthMultiple: 32,
      relaxSteps: 1,
      fallbackSteps: 0,
      agent: { maxIterations: 1, minIterations: 0, samplesPerIteration: 2 },
      finetune: { epochs: 0 },
      finalFinetune: { epochs: 0 },
    });
    const [conv1, ...wider] = summary.groups;
    expect(conv1.size).toBeLessThan(32); // 20 filters: the only width at a multiple of 32 is all of them
    expect([conv1.iterations, conv1.evaluations, conv1.probes, conv1.kept.length]).toEqual([[], 0, [], conv1.size]);
    for (const g of wider) expect(g.iterations.length).toBe(1);
    model.dispose();
    baseline.dispose();
  }, 300_000);
});

describe('one pass', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it('spreads its fine-tuned points over the groups, the last left out', () => {
    expect(onePassPoints(25, 2)).toEqual([7, 16]);
    expect(onePassPoints(3, 1)).toEqual([1]);
    expect(onePassPoints(3, 0)).toEqual([]);
    expect(onePassPoints(2, 3)).toEqual([0]);
  });

  it('decides every group before fine-tuning, on the reward subset against its floor; fine-tunes its points and the final model only, and certifies that path', async () => {
    const baseline = await loadModel('src/models/pretrained/lenet5-mnist/model.json');
    const events: RunEvent[] = [];
    const { model, summary } = await prune(
      baseline,
      data,
      {
        rewardSamples: 300,
        evalBatchSize: 300,
        relaxSteps: 2,
        fallbackSteps: 1,
        onePass: { enabled: true, drop: 3 },
        agent: { maxIterations: 2, minIterations: 0, initialKeep: 0.6, samplesPerIteration: 2 },
        finetune: { imagesPerEpoch: 128 },
        finalFinetune: { epochs: 1, imagesPerEpoch: 128 },
      },
      { onEvent: (event) => events.push(event) },
    );
    const [groups, points] = [summary.groups, onePassPoints(summary.groups.length, 1)];
    for (const [index, g] of groups.entries()) {
      expect(g.finetuned).toBe(false);
      // The budget: the unpruned accuracy on the reward subset less this group's share (allowedDrop / b) of the 3 points.
      expect(g.rewardBudget.tolerance).toBeCloseTo(3 * g.allowedDrop, 10);
      const floor = g.rewardBudget.reference - g.rewardBudget.tolerance / 100;
      for (const p of g.probes) expect(p.withinBudget).toBe(p.validationAccuracy >= floor);
      expect(g.pathPoints?.map((p) => p.source)).toEqual(
        points.includes(index) && groups.slice(0, index + 1).some((d) => d.kept.length < d.size) ? ['one-pass point'] : [],
      );
    }
    expect(groups.filter((g) => g.pathPoints?.length)).toHaveLength(1); // the pass pruned before its point
    // Fine-tuned: the pass's points and the final model, never a group's probe.
    const finetuned = new Set(events.filter((e) => e.type === 'finetune-progress').map((e) => (e as { groupId: number | 'final' }).groupId));
    expect([...finetuned]).toEqual([...groups.filter((g) => g.pathPoints?.length).map((g) => g.groupId), 'final']);
    expect(summary.certification.path.map((c) => c.label)).toEqual([
      ...groups.filter((g) => g.pathPoints?.length).map((g) => `after group ${g.groupId}, fine-tuned`),
      'final',
    ]);
    model.dispose();
    baseline.dispose();
  }, 300_000);
});
