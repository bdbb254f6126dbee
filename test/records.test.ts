import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { effectiveStatus, processStart, type RunRecord } from '../src/runs/records.js';

const running = (pid: number, pidStart?: string): RunRecord => ({
  id: 'r', command: 'prune', status: 'running', createdAt: '', updatedAt: '', config: {}, backend: 'wasm', result: {}, pid, pidStart,
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
