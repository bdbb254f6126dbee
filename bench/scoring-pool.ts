/**
 * Parallel candidate scoring (issue "Use the whole machine"): the agent's
 * masks scored in the main thread (what --workers 1 does, with the process's
 * wasm threads) against a pool of worker threads (--workers N, one wasm
 * thread each). For one group of a trained model, each round times
 * `--candidates` seeded masks (keeping about 70% of the group, as sampled
 * masks do early in a search) in every setting in turn, so that machine load
 * hits them alike; the table gives the median candidates per second and the
 * ratio to the main thread. Also: the process's resident memory with the
 * pool started and warm, and, with --leak-check N, one worker's tensors and
 * wasm heap before and after N more candidates.
 *
 *   npx tsx bench/scoring-pool.ts --model src/models/pretrained/lenet5-mnist/model.json --dataset mnist --group 1
 *   npx tsx bench/scoring-pool.ts --model src/models/pretrained/vgg-small-fashion-mnist/model.json --dataset fashion-mnist \
 *     --reward-samples 250 --group 2 --leak-check 1000
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import seedrandom from 'seedrandom';
import { PruningEnv } from '../env/pruning-env.js';
import { ScoringPool } from '../env/scoring-pool.js';
import { selectBackend } from '../src/backend/backend.js';
import { loadDataset } from '../src/data/datasets.js';
import { loadModel } from '../src/models/io.js';
import { parsePruneConfig } from '../src/run/config.js';
import { envConfigOf } from '../src/run/config.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'src/models/pretrained/lenet5-mnist/model.json' },
    dataset: { type: 'string', default: 'mnist' },
    group: { type: 'string', default: '1' },
    'reward-samples': { type: 'string', default: '1000' },
    candidates: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '3' },
    workers: { type: 'string', default: String(availableParallelism()) },
    'leak-check': { type: 'string', default: '0' },
  },
});
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
const backend = await selectBackend('wasm');
const data = loadDataset(values.dataset!, { seed: 0 });
// The agent's environment as `autoprune prune` sets it up (recovery and all), at this reward size.
const config = parsePruneConfig({ rewardSamples: Number(values['reward-samples']) }, 'bench');
// The observation is the agent's, not scoring's: its criteria are not computed here.
const env = await PruningEnv.create(await loadModel(values.model!), data, { ...envConfigOf(config), observationCriteria: false });
const group = env.setGroup(Number(values.group));
const candidates = Number(values.candidates);
const workerCounts = [...new Set([1, Number(values.workers)])];
const rssBefore = process.memoryUsage().rss;
const pools = new Map(workerCounts.map((n) => [n, ScoringPool.start(n)]));
const settings: [string, ScoringPool | undefined][] = [
  ['main thread', undefined],
  ...workerCounts.map((n) => [`${n} worker${n > 1 ? 's' : ''}`, pools.get(n)] as [string, ScoringPool]),
];
const masksOf = (round: number) => {
  const rng = seedrandom(`scoring-pool-${round}`);
  return Array.from({ length: candidates }, () => Uint8Array.from({ length: group.size }, () => (rng() < 0.7 ? 1 : 0)));
};
// Warm-up: every worker builds its environment (a round of tasks reaches each of them).
for (const pool of pools.values()) {
  env.scoreWith(pool);
  await env.evaluateAll(masksOf(-1));
}
const rssWarm = process.memoryUsage().rss;
const rates = new Map<string, number[]>(settings.map(([name]) => [name, []]));
const rounds = Number(values.rounds);
for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? settings : [...settings].reverse();
  for (const [name, pool] of order) {
    env.scoreWith(pool);
    const started = performance.now();
    await env.evaluateAll(masksOf(round));
    rates.get(name)!.push(candidates / ((performance.now() - started) / 1000));
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mainRate = median(rates.get('main thread')!);
console.log(
  `# ${values.model} / ${values.dataset}, group ${group.id} (${group.producers.join(', ')}, ${group.size} channels), ${config.rewardSamples} reward images, ` +
    `${candidates} candidates per timing, ${rounds} alternating rounds, medians; main thread: ${backend.threads} wasm threads; ${new Date().toISOString()}`,
);
console.log('| scoring | candidates/s (median) | rounds | vs main thread |');
console.log('|---|---|---|---|');
for (const [name] of settings) {
  const xs = rates.get(name)!;
  console.log(`| ${name} | ${median(xs).toFixed(2)} | ${xs.map((x) => x.toFixed(2)).join(', ')} | ${(median(xs) / mainRate).toFixed(2)}x |`);
}
console.log(
  `\nresident memory: ${mib(rssBefore)} MiB before the pools, ${mib(rssWarm)} MiB with pools of ${workerCounts.join(' and ')} workers built and warm`,
);

const leakCheck = Number(values['leak-check']);
if (leakCheck > 0) {
  const single = pools.get(1)!;
  env.scoreWith(single);
  const before = await single.memory();
  for (let done = 0; done < leakCheck; done += candidates) await env.evaluateAll(masksOf(1000 + done).slice(0, Math.min(candidates, leakCheck - done)));
  const after = await single.memory();
  console.log(
    `one worker over ${leakCheck} more candidates: tensors ${before.tensors} -> ${after.tensors}, wasm heap ${mib(before.wasmHeapBytes)} -> ${mib(after.wasmHeapBytes)} MiB`,
  );
}
env.dispose();
await Promise.all([...pools.values()].map((pool) => pool.destroy()));
