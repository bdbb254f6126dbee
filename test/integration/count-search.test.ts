import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend/backend.js';
import { loadDataset } from '../../src/data/datasets.js';
import { loadModel } from '../../src/models/io.js';
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
