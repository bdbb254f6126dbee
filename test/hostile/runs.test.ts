/**
 * Hostile run folders and faults: run ids that are paths, a full disk,
 * malformed and corrupt run records, a runs folder that is a file, and two
 * resumes of one run at once. Each is one line that names the file, and no
 * finished step is lost.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkRunsDir, describeWriteFault, listRuns, Run, type RunRecord, recordFailure } from '../../src/run/records.js';
import { listCheckedRuns, openRun } from '../../src/run/results.js';
import { autoprune } from '../cli-helpers.js';
import { tempDir } from '../helpers.js';
import { temporaryFiles } from './helpers.js';
import { RunError } from '../../src/errors.js';

describe('run ids and faults', () => {
  it('takes a run id only as a plain folder name, before touching any file', async () => {
    const runsDir = tempDir();
    for (const id of ['../../etc', '/etc/passwd', 'a/b', '..', 'x\\..\\y', '']) {
      await expect(Run.open(runsDir, id)).rejects.toThrow(RunError);
      await expect(Run.open(runsDir, id)).rejects.toThrow(/is not a run id/);
    }
    await expect(Run.open(runsDir, '20261204-074731-compare-lenet5-mnist-4648')).rejects.toThrow(/not found/);
    for (const command of [
      ['show', '../../etc'],
      ['resume', '/etc'],
      ['report', '../x'],
    ]) {
      const { status, stderr } = autoprune(['--runs-dir', runsDir, ...command]);
      expect(status).toBe(1);
      expect(stderr).toMatch(/^autoprune: ".*" is not a run id/);
    }
  });

  it('a full disk is one line naming the file, and the run says how to resume', async () => {
    let full: unknown;
    try {
      writeFileSync('/dev/full', 'x'); // a real ENOSPC
    } catch (err) {
      full = err;
    }
    expect(describeWriteFault(full)).toBe('cannot write a file: no space left on the device (ENOSPC)'); // a failed write(2) names no path; writeFileAtomic adds it
    expect(describeWriteFault(new TypeError('x'))).toBeUndefined();
    const runsDir = tempDir();
    const run = await Run.create(runsDir, { command: 'prune', label: 'lenet5-mnist', config: {}, backend: 'wasm', result: {} });
    await recordFailure(run, full);
    expect(temporaryFiles(runsDir)).toEqual([]);
    expect((full as Error).message).toBe(
      `cannot write a file: no space left on the device (ENOSPC); every finished step is kept: free the space or fix the permission, then \`autoprune resume ${run.id}\``,
    );
    expect(run.record.status).toBe('failed');
  });
});

describe('resume takes a run over in one step', () => {
  const interruptedRun = async () => {
    const dir = tempDir();
    const run = await Run.create(dir, { command: 'prune', label: 'x', config: {}, backend: 'wasm', result: {} });
    await run.finish('interrupted', 'stopped by SIGINT');
    return { dir, id: run.id };
  };

  it('of two resumes at once, one takes the run and the other is refused', async () => {
    const { dir, id } = await interruptedRun();
    const [first, second] = [await Run.open(dir, id), await Run.open(dir, id)];
    // Both opened the interrupted record, as two resume commands do; without the lock both would pass the check.
    const outcomes = await Promise.allSettled([first.takeOver('wasm'), second.takeOver('wasm')]);
    expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
    const refusal = (outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult).reason as Error;
    expect(refusal).toBeInstanceOf(RunError);
    expect(refusal.message).toBe(`run "${id}" is being resumed by another process; let it go on, or stop it first`);
    const record = JSON.parse(readFileSync(join(dir, id, 'run.json'), 'utf8')) as RunRecord;
    expect(record).toMatchObject({ status: 'running', pid: process.pid });
    expect(record.error).toBeUndefined();
    expect(existsSync(join(dir, id, '.takeover.lock'))).toBe(false);
  });

  it('takes over a lock left by a dead process, and refuses a finished run or another backend', async () => {
    const { dir, id } = await interruptedRun();
    const dead = Number(spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' }).stdout.trim());
    writeFileSync(join(dir, id, '.takeover.lock'), JSON.stringify({ pid: dead }));
    await expect((await Run.open(dir, id)).takeOver('cpu')).rejects.toThrow(/ran on the wasm backend; resume it there/);
    await (await Run.open(dir, id)).takeOver('wasm');
    const run = await Run.open(dir, id);
    await run.finish('done');
    await expect(run.takeOver('wasm')).rejects.toThrow(/has already finished/);
  });
});

describe('run records on disk', () => {
  it('lists malformed and corrupt records as unreadable with the reason, and show names the file', async () => {
    const dir = tempDir();
    const good = await Run.create(dir, { command: 'train', label: 'x', config: { model: 'lenet5' }, backend: 'wasm', result: {} });
    await good.finish('done');
    mkdirSync(join(dir, 'only-id'));
    writeFileSync(join(dir, 'only-id', 'run.json'), '{"id":"x"}');
    mkdirSync(join(dir, 'corrupt'));
    writeFileSync(join(dir, 'corrupt', 'run.json'), '{"id": "x", "comm');
    mkdirSync(join(dir, 'no-record'));
    const { records, unreadable } = listRuns(dir);
    expect(records.map((r) => r.id)).toEqual([good.id]);
    expect(unreadable).toEqual([
      { id: 'corrupt', reason: expect.stringMatching(/^unreadable run record \(.*JSON/) },
      { id: 'only-id', reason: 'not a run record (command: Invalid input: expected string, received undefined)' },
    ]);
    await expect(Run.open(dir, 'only-id')).rejects.toThrow(
      new RunError(`${join(dir, 'only-id', 'run.json')}: not a run record (command: Invalid input: expected string, received undefined)`),
    );
  });

  it("checks a record's result against its command's schema: a mismatch is unreadable with the field named; resume and report refuse other commands", async () => {
    const dir = tempDir();
    const train = await Run.create(dir, { command: 'train', label: 'x', config: { model: 'lenet5' }, backend: 'wasm', result: { testAccuracy: 0.98 } });
    const prune = await Run.create(dir, { command: 'prune', label: 'y', config: { model: 'lenet5' }, backend: 'wasm', result: { groups: [{ groupId: 'a' }] } });
    const odd = await Run.create(dir, { command: 'dance', label: 'z', config: {}, backend: 'wasm', result: {} });
    // A record of an earlier version: groups without the count search's probes; listed, not resumable.
    const oldGroup = { groupId: 0, producers: ['conv1'], size: 20, kept: [0, 1], agentKept: 2, relaxed: 0, testAccuracy: null };
    const old = await Run.create(dir, { command: 'prune', label: 'w', config: { model: 'lenet5' }, backend: 'wasm', result: { groups: [oldGroup] } });
    const { records, unreadable } = listCheckedRuns(dir);
    expect(records.map((r) => r.id).sort()).toEqual([train.id, old.id].sort());
    await expect(openRun(dir, old.id, 'prune', 'can be resumed')).rejects.toThrow(/not a prune record \(result\.groups\.0\.probes: /);
    const listedTrain = records.find((r) => r.id === train.id)!;
    expect(listedTrain.command === 'train' && listedTrain.result.testAccuracy).toBe(0.98);
    expect(unreadable).toHaveLength(2);
    expect(unreadable).toEqual(
      expect.arrayContaining([
        { id: prune.id, reason: 'not a prune record (result.groups.0.groupId: Invalid input: expected number, received string)' },
        { id: odd.id, reason: 'a run of an unknown command "dance"' },
      ]),
    );
    await expect(openRun(dir, train.id, 'prune', 'can be resumed')).rejects.toThrow(
      new RunError(`run "${train.id}" is a train run; only prune runs can be resumed`),
    );
    await expect(openRun(dir, prune.id, 'prune', 'can be resumed')).rejects.toThrow(/not a prune record \(result\.groups\.0\.groupId/);
    expect((await openRun(dir, train.id, 'train', 'x')).record.result.testAccuracy).toBe(0.98);
  });

  it('refuses a runs folder that is a file, or under one, in one line', () => {
    const file = join(tempDir(), 'taken');
    writeFileSync(file, '');
    expect(() => checkRunsDir(file)).toThrow(new RunError(`runs folder ${file}: is a file, not a folder`));
    expect(() => checkRunsDir(join(file, 'runs'))).toThrow(new RunError(`runs folder ${join(file, 'runs')}: ${file} is a file, not a folder`));
    expect(() => listRuns(file)).toThrow(/is a file, not a folder/);
    expect(() => checkRunsDir(join(tempDir(), 'new', 'runs'))).not.toThrow();
  });
});
