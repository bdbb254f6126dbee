/**
 * Stopping is the caller's AbortSignal, per run: a program that runs two
 * prunes at once stops one of them, which records itself interrupted
 * (resumable) and rejects with an InterruptedError, while the other finishes.
 * The library adds no process signal handler.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { type BackendChoice, selectBackend } from '../../src/backend/backend.js';
import { InterruptedError } from '../../src/errors.js';
import { parsePruneConfig } from '../../src/run/config.js';
import { SILENT_LOG } from '../../src/run/log.js';
import { pruneRun } from '../../src/run/prune-run.js';
import { Run } from '../../src/run/records.js';
import { tempDir } from '../helpers.js';

const tiny = (seed: number) =>
  parsePruneConfig({
    model: 'src/models/pretrained/lenet5-mnist/model.json',
    dataset: 'mnist',
    seed,
    tolerance: 2,
    rewardSamples: 200,
    evalBatchSize: 200,
    certificationSamples: 1000,
    workers: 1,
    agent: { maxIterations: 3, minIterations: 2, patience: 1, samplesPerIteration: 3 },
    finetune: { epochs: 1, imagesPerEpoch: 128 },
    finalFinetune: { epochs: 1, imagesPerEpoch: 128 },
  });

describe('stopping a run from the library', () => {
  const runsDir = tempDir();
  let backend: BackendChoice;
  beforeAll(async () => {
    backend = await selectBackend('wasm');
  });

  it('aborts one of two prunes running at once; the other finishes, and no signal handler is left behind', async () => {
    const handlers = () => ['SIGINT', 'SIGTERM', 'SIGHUP'].map((s) => process.listenerCount(s));
    const before = handlers();
    const stopper = new AbortController();
    const context = { runsDir, backend, log: SILENT_LOG };
    const stopped = pruneRun(tiny(1), {
      ...context,
      signal: stopper.signal,
      // Stopped once its second group starts: the first is kept.
      onEvent: (event) => {
        if (event.type === 'group-start' && event.index === 1) stopper.abort('a test');
      },
    });
    const finished = pruneRun(tiny(2), { ...context, onEvent: () => {} });
    const [stoppedOutcome, finishedOutcome] = await Promise.allSettled([stopped, finished]);
    expect(handlers()).toEqual(before);

    expect(stoppedOutcome.status).toBe('rejected');
    expect((stoppedOutcome as PromiseRejectedResult).reason).toBeInstanceOf(InterruptedError);
    expect(finishedOutcome.status).toBe('fulfilled');
    const done = (finishedOutcome as PromiseFulfilledResult<Run>).value;
    expect(done.record.status).toBe('done');
    const records = await Promise.all((await import('node:fs')).readdirSync(runsDir).map(async (id) => (await Run.open(runsDir, id)).record));
    const interrupted = records.find((r) => r.id !== done.id)!;
    expect(interrupted).toMatchObject({ status: 'interrupted', error: 'stopped during group 1' });
    expect((interrupted.result as { groups?: unknown[] }).groups).toHaveLength(1);
  });
});
