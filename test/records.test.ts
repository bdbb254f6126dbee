import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkRunsDir, effectiveStatus, listRuns, modelShortName, newRunId, processStart, Run, RunError, type RunRecord } from '../src/runs/records.js';
import { listCheckedRuns, openRun } from '../src/runs/results.js';
import { tempDir } from './helpers.js';

const running = (pid: number, pidStart?: string): RunRecord => ({
  id: 'r',
  command: 'prune',
  status: 'running',
  createdAt: '',
  updatedAt: '',
  config: {},
  backend: 'wasm',
  result: {},
  pid,
  pidStart,
});

describe('a running run whose process is gone shows as crashed', () => {
  it('tells its own live process from a dead one and from a later process given the same pid', () => {
    expect(effectiveStatus(running(process.pid, processStart(process.pid)))).toBe('running');
    const finished = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
    expect(effectiveStatus(running(Number(finished.stdout.trim())))).toBe('crashed');
    // A live pid whose start time differs is another process that reuses the number.
    expect(effectiveStatus(running(process.pid, '1'))).toBe('crashed');
    expect(effectiveStatus({ ...running(process.pid), status: 'done' })).toBe('done');
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

describe('run ids', () => {
  it("name the model briefly: a zoo name, the folder of a model.json (a run's own id), without the data set", () => {
    expect(modelShortName('lenet5', 'mnist')).toBe('lenet5');
    expect(modelShortName('src/models/pretrained/resnet-small-fashion-mnist/model.json', 'fashion-mnist')).toBe('resnet-small');
    expect(modelShortName('/work/runs/20261122-101633-train-vgg-small-fashion-mnist-4a2a/model/model.json', 'fashion-mnist')).toBe('vgg-small');
    expect(modelShortName('/tmp/my model (v2)/model.json', 'mnist')).toBe('my_model_v2_');
    expect(newRunId('prune', `${modelShortName('src/models/pretrained/lenet5-mnist/model.json', 'mnist')}-mnist`)).toMatch(
      /^\d{8}-\d{6}-prune-lenet5-mnist-[0-9a-f]{4}$/,
    );
  });
});
