/**
 * Stopped in the phases the prune and compare tests do not stop in: training
 * a baseline, a criterion's tolerance search, and a `compare --jobs 2` on
 * SIGTERM (a service manager's stop). Each exits with the signal's code, is
 * recorded as interrupted with the signal named, leaves no temporary file
 * and no process behind, and says what to do next.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { autoprune, record, runUntil, trainTinyBaseline } from '../cli-helpers.js';
import { tempDir } from '../helpers.js';
import { temporaryFiles } from './helpers.js';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function waitForExit(pids: number[], timeoutMs = 60_000): Promise<number[]> {
  for (let waited = 0; waited < timeoutMs && pids.some(alive); waited += 500) await new Promise((done) => setTimeout(done, 500));
  return pids.filter(alive);
}

describe('stop signals in every phase', () => {
  const runsDir = tempDir();
  const configPath = join(runsDir, 'tiny.json');
  const common = ['--runs-dir', runsDir];
  const runIdIn = (stderr: string, command: string) => new RegExp(`run: .*/([^/\\s]+-${command}-[^/\\s]+)\\n`).exec(stderr)![1];

  beforeAll(() => trainTinyBaseline(runsDir, configPath));

  it('SIGTERM while training a baseline: recorded as interrupted, exit 143, no model and no temporary file', async () => {
    const stopped = await runUntil(
      [...common, 'train', '--model', 'lenet5', '--dataset', 'mnist', '--epochs', '3', '--train-limit', '2000', '--validation-size', '500'],
      /run: /,
      'SIGTERM',
    );
    expect(stopped.code, stopped.stderr).toBe(143);
    const id = runIdIn(stopped.stderr, 'train');
    expect(record(runsDir, id)).toMatchObject({ status: 'interrupted', error: 'stopped by SIGTERM' });
    expect(readdirSync(join(runsDir, id))).toEqual(['run.json']);
    expect(temporaryFiles(runsDir)).toEqual([]);
    expect(autoprune([...common, 'show', id]).stdout).toContain('start it again: its train command cannot resume');
  });

  it("SIGTERM during a criterion's tolerance search: recorded with the probes it finished, exit 143", async () => {
    const stopped = await runUntil(
      [
        ...common,
        'criterion',
        '--model',
        'lenet5',
        '--dataset',
        'mnist',
        '--validation-size',
        '500',
        '--tolerance',
        '2',
        '--probes',
        '4',
        '--finetune-images',
        '256',
      ],
      /probe 1: /,
      'SIGTERM',
    );
    expect(stopped.code, stopped.stderr).toBe(143);
    const id = runIdIn(stopped.stderr, 'criterion');
    expect(record(runsDir, id)).toMatchObject({ status: 'interrupted', error: 'stopped by SIGTERM' });
    expect(temporaryFiles(runsDir)).toEqual([]);
  });

  it('SIGTERM on a compare --jobs 2: the parent is recorded as interrupted, every job stops, and resume finishes it', async () => {
    const stopped = await runUntil(
      [...common, 'compare', '--config', configPath, '--methods', 'l1,l2', '--probes', '2', '--jobs', '2'],
      /\[l2\] .*probe 1/,
      'SIGTERM',
    );
    expect(stopped.code).toBe(143);
    const id = runIdIn(stopped.stderr, 'compare');
    expect(record(runsDir, id)).toMatchObject({ status: 'interrupted' });
    const jobs = [...stopped.stderr.matchAll(/== l\d \(pid (\d+)\)/g)].map((m) => Number(m[1]));
    expect(jobs).toHaveLength(2);
    expect(await waitForExit(jobs)).toEqual([]);
    expect(temporaryFiles(runsDir)).toEqual([]);
    const resumed = autoprune([...common, 'resume', id]);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(record(runsDir, id).status).toBe('done');
    expect(temporaryFiles(runsDir)).toEqual([]);
  });
});
