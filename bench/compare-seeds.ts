/**
 * `autoprune compare` at several seeds (the split of the validation images
 * into reward subset and guarantee split, the agent, sampling and fine-tuning
 * change; the baseline and its train / validation split do not), each
 * compare's results.json copied to bench/results/<name>-seed<k>.json, then
 * one table: per method, the mean and spread (min-max) over the seeds of
 * FLOPs reduction, compression and test drop, and the agent's ratio to the
 * best criterion per seed.
 *
 *   npx tsx bench/compare-seeds.ts --config configs/compare-lenet5-mnist.json --name lenet5-mnist-b1 --seeds 0,1,2
 *   npx tsx bench/compare-seeds.ts --name lenet5-mnist-b1 --seeds 0,1,2 --table   # the table from the committed files
 *   --jobs N runs each compare's methods N at a time (compare --jobs)
 *   --probes N caps each tolerance search's bisection probes (compare --probes)
 *   --set key=value (repeatable) overrides a config field for every seed, as
 *     compare --set does (for example --set phi=latency)
 *   --methods a,b --merge runs only those methods and merges their rows into
 *     the committed file (a compare finished over several sessions; run it
 *     from the same folder, since results name the baseline by its path)
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type CompareResults, mergeResults, type ResultRow } from '../src/run/compare-results.js';

const { values } = parseArgs({
  options: {
    config: { type: 'string' },
    name: { type: 'string' },
    seeds: { type: 'string', default: '0,1,2' },
    methods: { type: 'string' },
    set: { type: 'string', multiple: true, default: [] },
    jobs: { type: 'string', default: '1' },
    probes: { type: 'string' },
    table: { type: 'boolean', default: false },
    merge: { type: 'boolean', default: false },
    'runs-dir': { type: 'string', default: 'runs' },
  },
});
if (values.name === undefined) throw new Error('give --name (the results file prefix)');
const seeds = values.seeds!.split(',').map(Number);
const fileOf = (seed: number) => join('bench', 'results', `${values.name}-seed${seed}.json`);

if (!values.table) {
  if (values.config === undefined) throw new Error('give --config');
  for (const seed of seeds) {
    if (existsSync(fileOf(seed)) && !values.merge) {
      console.error(`${fileOf(seed)} exists: seed ${seed} is not run again (delete the file to rerun it)`);
      continue;
    }
    const args = [
      'bin/autoprune.mjs',
      '--no-tui',
      '--runs-dir',
      values['runs-dir']!,
      'compare',
      '--config',
      values.config,
      '--seed',
      String(seed),
      '--jobs',
      values.jobs!,
      ...(values.methods ? ['--methods', values.methods] : []),
      ...(values.probes ? ['--probes', values.probes] : []),
      ...values.set!.flatMap((field) => ['--set', field]),
    ];
    console.error(`$ node ${args.join(' ')}`);
    const child = spawnSync('node', args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
    if (child.status !== 0) throw new Error(`compare at seed ${seed} failed (exit ${child.status})`);
    const produced = join(values['runs-dir']!, child.stdout.trim(), 'results.json');
    if (values.merge && existsSync(fileOf(seed))) {
      const read = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as CompareResults;
      const merged = mergeResults([
        { runId: fileOf(seed), results: read(fileOf(seed)) },
        { runId: child.stdout.trim(), results: read(produced) },
      ]);
      writeFileSync(fileOf(seed), `${JSON.stringify(merged, null, 2)}\n`);
    } else copyFileSync(produced, fileOf(seed));
  }
}

const results = seeds.filter((s) => existsSync(fileOf(s))).map((s) => ({ seed: s, results: JSON.parse(readFileSync(fileOf(s), 'utf8')) as CompareResults }));
const done = (rows: ResultRow[]) => rows.filter((r) => r.status === 'done');
const methods = [...new Set(results.flatMap((r) => done(r.results.rows).map((row) => row.method)))];
const stat = (xs: number[], digits: number, unit = '') => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return xs.length === 1
    ? `${mean.toFixed(digits)}${unit}`
    : `${mean.toFixed(digits)}${unit} (${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)})`;
};
console.log(`seeds ${results.map((r) => r.seed).join(', ')} of ${values.name}; mean (min-max)`);
console.log('| method | FLOPs reduction | compression | validation drop | test drop | time |');
console.log('|---|---|---|---|---|---|');
for (const method of methods) {
  const rows = results.flatMap(({ results: r }) =>
    done(r.rows)
      .filter((row) => row.method === method)
      .map((row) => ({ row, unpruned: r.unpruned })),
  );
  const label = rows.map(({ row }) => (row as ResultRow & { ranking?: string }).ranking).filter(Boolean);
  console.log(
    `| ${method}${label.length > 0 ? ` (${label.join('/')})` : ''} | ${stat(
      rows.map(({ row }) => row.theoreticalSpeedup!),
      2,
      'x',
    )} | ${stat(
      rows.map(({ row }) => row.compressionRatio!),
      2,
      'x',
    )} | ` +
      `${stat(
        rows.map(({ row, unpruned }) => 100 * (unpruned.validationAccuracy - row.validationAccuracy!)),
        2,
      )} | ${stat(
        rows.map(({ row, unpruned }) => 100 * (unpruned.testAccuracy - row.testAccuracy!)),
        2,
      )} | ${stat(
        rows.map(({ row }) => row.seconds / 60),
        1,
        ' min',
      )} |`,
  );
}
console.log('\n| seed | agent FLOPs | best criterion | its FLOPs | agent / best |');
console.log('|---|---|---|---|---|');
for (const { seed, results: r } of results) {
  const agent = done(r.rows).find((row) => row.method === 'rl');
  const others = done(r.rows).filter((row) => row.method !== 'rl');
  if (agent === undefined || others.length === 0) continue;
  const best = others.reduce((a, b) => (b.theoreticalSpeedup! > a.theoreticalSpeedup! ? b : a));
  console.log(
    `| ${seed} | ${agent.theoreticalSpeedup!.toFixed(2)}x | ${best.method} | ${best.theoreticalSpeedup!.toFixed(2)}x | ${(agent.theoreticalSpeedup! / best.theoreticalSpeedup!).toFixed(2)} |`,
  );
}
