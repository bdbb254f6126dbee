/**
 * `compare --jobs 2` against `--jobs 1` (issue "Use the whole machine"): the
 * same compare (config, methods, seed) run with each job count in turn,
 * alternating the order every round so that machine load hits both alike.
 * Prints the wall time of every run, the medians and their ratio, and
 * whether both job counts produced the same rows (FLOPs, parameters,
 * accuracies: the methods' decisions must not depend on how they are run).
 *
 *   npx tsx bench/compare-jobs.ts --config configs/compare-lenet5-mnist.json --methods l1,l2,fpgm,taylor --rounds 2
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { median, timedCompare } from './compare-wall.js';

const { values } = parseArgs({
  options: {
    config: { type: 'string', default: 'configs/compare-lenet5-mnist.json' },
    methods: { type: 'string', default: 'l1,l2,fpgm,taylor' },
    seed: { type: 'string', default: '0' },
    rounds: { type: 'string', default: '2' },
  },
});
const runsDir = mkdtempSync(join(tmpdir(), 'compare-jobs-'));
const jobCounts = [1, 2];

/** One compare at `jobs`: its wall time and rows. */
const runCompare = (jobs: number) =>
  timedCompare(runsDir, ['--config', values.config!, '--methods', values.methods!, '--seed', values.seed!, '--jobs', String(jobs)], `--jobs ${jobs}`);

const runs: { round: number; jobs: number; seconds: number; rows: Map<string, string> }[] = [];
for (let round = 0; round < Number(values.rounds); round++) {
  for (const jobs of round % 2 === 0 ? jobCounts : [...jobCounts].reverse()) runs.push({ round, jobs, ...runCompare(jobs) });
}

const medians = new Map(jobCounts.map((j) => [j, median(runs.filter((r) => r.jobs === j).map((r) => r.seconds))]));
console.log(
  `# compare ${values.config} --methods ${values.methods} --seed ${values.seed}, ${values.rounds} rounds alternating the order; ${new Date().toISOString()}`,
);
console.log('| jobs | wall time per round (min) | median (min) | speedup over --jobs 1 |');
console.log('|---|---|---|---|');
for (const jobs of jobCounts) {
  const times = runs.filter((r) => r.jobs === jobs).map((r) => (r.seconds / 60).toFixed(2));
  console.log(`| ${jobs} | ${times.join(', ')} | ${(medians.get(jobs)! / 60).toFixed(2)} | ${(medians.get(1)! / medians.get(jobs)!).toFixed(2)}x |`);
}
const reference = runs[0].rows;
const differing = runs.flatMap((run) =>
  [...reference]
    .filter(([method, row]) => run.rows.get(method) !== row)
    .map(([method]) => `${method} (jobs ${run.jobs}, round ${run.round}): ${run.rows.get(method)} vs ${reference.get(method)}`),
);
console.log(differing.length === 0 ? '\nevery run produced the same rows:' : `\nrows that differ between runs:\n${differing.join('\n')}\nfirst run's rows:`);
for (const row of reference.values()) console.log(`- ${row}`);
