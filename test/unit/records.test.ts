import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { effectiveStatus, modelShortName, newRunId, processStart, readRunRecord, Run, type RunRecord } from '../../src/run/records.js';
import { formatShow } from '../../src/cli/runs-command.js';
import { checkedRecord, listedRecord } from '../../src/run/results.js';

const running = (pid: number, pidStart?: string): RunRecord => ({
  schemaVersion: 1,
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

describe('run ids', () => {
  it("name the model briefly: a zoo name, the folder of a model.json (a run's own id), without the data set", () => {
    expect(modelShortName('lenet5', 'mnist')).toBe('lenet5');
    expect(modelShortName('src/models/pretrained/resnet-small-fashion-mnist/model.json', 'fashion-mnist')).toBe('resnet-small');
    expect(modelShortName('/work/runs/20261122-101633-train-vgg-small-fashion-mnist-4a2a/model/model.json', 'fashion-mnist')).toBe('vgg-small');
    expect(modelShortName('/tmp/my model (v2)/model.json', 'mnist')).toBe('my_model_v2_');
    expect(modelShortName('20261204-220857-train-lenet5-my-images-babd', 'my-images')).toBe('lenet5'); // a run id given as --model
    expect(newRunId('prune', `${modelShortName('src/models/pretrained/lenet5-mnist/model.json', 'mnist')}-mnist`)).toMatch(
      /^\d{8}-\d{6}-prune-lenet5-mnist-[0-9a-f]{4}$/,
    );
  });
});

describe('records of earlier versions', () => {
  it('reads a run recorded as a `baseline` run (before the command was named criterion) as a criterion run, and lists it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'autoprune-records-'));
    const id = '20261120-101010-baseline-l1-lenet5-mnist-ab12';
    mkdirSync(join(dir, id));
    const file = join(dir, id, 'run.json');
    const report = { pruned: { testAccuracy: 0.99 }, theoreticalSpeedup: 2, compressionRatio: 2.5, testDrop: 0.1 };
    const { schemaVersion: _, ...unversioned } = running(1); // written before records carried a version
    writeFileSync(file, JSON.stringify({ ...unversioned, id, command: 'baseline', status: 'done', result: { ratio: 0.5, report } }));
    const record = readRunRecord(file);
    expect(record.command).toBe('criterion');
    expect(listedRecord(record, file).command).toBe('criterion');
    expect(checkedRecord({ ...record, result: { ratio: 0.5 } }, file).command).toBe('criterion'); // the full schema of a criterion run
    expect(() => checkedRecord({ ...record, command: 'distill' }, file)).toThrow(/unknown command "distill"/);
  });
});

describe('peak memory', () => {
  it('is recorded with every write, never lower than before, and shown', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'autoprune-records-'));
    const run = await Run.create(dir, { command: 'train', config: {}, backend: 'wasm', result: {}, label: 'lenet5-mnist' });
    const first = readRunRecord(join(run.dir, 'run.json')).peakMemory!;
    expect(first).toBeGreaterThan(10 * 1024 * 1024); // a Node process with tfjs loaded holds more than 10 MiB
    const held = new Uint8Array(64 * 1024 * 1024).fill(1); // raises this process's peak
    await run.finish('done');
    const after = readRunRecord(join(run.dir, 'run.json'));
    expect(after.peakMemory!).toBeGreaterThanOrEqual(first + held.length / 2);
    expect(formatShow(listedRecord(after, join(run.dir, 'run.json')), run.dir)).toMatch(/peak memory \d+ MiB|peak memory [\d.]+ GiB/);
  });
});
