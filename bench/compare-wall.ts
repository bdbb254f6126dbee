/**
 * What bench/compare-jobs.ts and bench/compare-queue.ts share: one compare
 * run as a child process, timed, with its rows reduced to what must not
 * depend on how it ran; and the median of the rounds.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CompareResults, methodLabel } from '../src/run/compare-results.js';

/** Runs `node bin/autoprune.mjs --no-tui --runs-dir RUNS compare ARGS`; its wall time (s) and each method's row (FLOPs, parameters, accuracies, or the failure). */
export function timedCompare(runsDir: string, args: string[], what: string): { seconds: number; rows: Map<string, string> } {
  const command = ['bin/autoprune.mjs', '--no-tui', '--runs-dir', runsDir, 'compare', ...args];
  console.error(`$ node ${command.join(' ')}`);
  const started = performance.now();
  const child = spawnSync('node', command, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  const seconds = (performance.now() - started) / 1000;
  if (child.status !== 0) throw new Error(`compare (${what}) failed (exit ${child.status})`);
  const results = JSON.parse(readFileSync(join(runsDir, child.stdout.trim(), 'results.json'), 'utf8')) as CompareResults;
  const rows = new Map(
    results.rows.map((r) => [
      r.method,
      r.status === 'done'
        ? `${methodLabel(r)}: ${r.theoreticalSpeedup?.toFixed(4)}x FLOPs, ${r.compressionRatio?.toFixed(4)}x params, validation ${r.validationAccuracy}, test ${r.testAccuracy}`
        : `failed: ${r.error}`,
    ]),
  );
  return { seconds, rows };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
