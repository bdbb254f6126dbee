/**
 * `compare --queue` with two workers on this machine against `compare --jobs 2`
 * (issue "Compare across machines"): the same compare (config, methods, seed)
 * both ways, alternating the order every round. A redis-server is started on
 * a free loopback port and two `autoprune --threads 1 worker` processes (each
 * job on one wasm thread, as --jobs 2 gives each of its jobs on 2 cores).
 * Prints every run's wall time, the medians, the queue's overhead in seconds
 * and whether both ways gave the same rows.
 *
 *   npx tsx bench/compare-queue.ts --config configs/compare-lenet5-mnist.json --methods l1,fpgm,taylor,random --rounds 2
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { median, timedCompare } from './compare-wall.js';

const { values } = parseArgs({
  options: {
    config: { type: 'string', default: 'configs/compare-lenet5-mnist.json' },
    methods: { type: 'string', default: 'l1,fpgm,taylor,random' },
    seed: { type: 'string', default: '0' },
    rounds: { type: 'string', default: '2' },
  },
});
const runsDir = mkdtempSync(join(tmpdir(), 'compare-queue-'));

const port = await new Promise<number>((resolve) => {
  const server = createServer().listen(0, '127.0.0.1', () => {
    const { port: free } = server.address() as { port: number };
    server.close(() => resolve(free));
  });
});
const url = `redis://127.0.0.1:${port}`;
const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
await new Promise<void>((ready) => redis.stdout!.on('data', (d) => /Ready to accept connections/.test(String(d)) && ready()));
const workers: ChildProcess[] = Array.from({ length: 2 }, () =>
  spawn('node', ['bin/autoprune.mjs', '--no-tui', '--threads', '1', 'worker', '--queue', url], { stdio: 'ignore' }),
);

type Way = 'jobs 2' | 'queue, 2 workers';

/** One compare, one way: its wall time and rows. */
const runCompare = (way: Way) =>
  timedCompare(
    runsDir,
    ['--config', values.config!, '--methods', values.methods!, '--seed', values.seed!, ...(way === 'jobs 2' ? ['--jobs', '2'] : ['--queue', url])],
    way,
  );

const ways: Way[] = ['jobs 2', 'queue, 2 workers'];
const runs: { round: number; way: Way; seconds: number; rows: Map<string, string> }[] = [];
try {
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const way of round % 2 === 0 ? ways : [...ways].reverse()) runs.push({ round, way, ...runCompare(way) });
  }
} finally {
  for (const worker of workers) worker.kill('SIGINT');
  redis.kill('SIGTERM');
}

const medians = new Map(ways.map((w) => [w, median(runs.filter((r) => r.way === w).map((r) => r.seconds))]));
console.log(
  `# compare ${values.methods} (${values.config}, seed ${values.seed}): --jobs 2 against --queue with two workers on this machine (redis-server on loopback, each job 1 wasm thread), ${values.rounds} rounds alternating`,
);
console.log('\n| round | way | wall (s) |\n|---|---|---|');
for (const r of runs) console.log(`| ${r.round + 1} | ${r.way} | ${r.seconds.toFixed(1)} |`);
console.log(
  `\nmedian: --jobs 2 ${medians.get('jobs 2')!.toFixed(1)} s, queue ${medians.get('queue, 2 workers')!.toFixed(1)} s; the queue's overhead ${(medians.get('queue, 2 workers')! - medians.get('jobs 2')!).toFixed(1)} s`,
);
const reference = runs[0].rows;
const same = runs.every((r) => [...reference].every(([method, row]) => r.rows.get(method) === row) && r.rows.size === reference.size);
console.log(`rows identical in every run: ${same ? 'yes' : 'NO'}`);
for (const [method, row] of reference) console.log(`  ${method}: ${row}`);
