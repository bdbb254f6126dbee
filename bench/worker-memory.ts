/**
 * What a candidate-scoring worker costs in memory, for the estimate's peak
 * (src/run/estimate.ts, WORKER_RUNTIME_BYTES): this process's resident
 * memory with the environment set on a group, then with a pool of N workers
 * that have each scored a candidate of that group. The growth per worker,
 * less its wasm heap (the network, its cache and an evaluation batch's
 * working set), is the thread's own runtime.
 *
 *   npx tsx bench/worker-memory.ts --config configs/compare-mobilenetv2-0.35-fashion-mnist.json \
 *     --model src/models/pretrained/mobilenetv2-0.35-fashion-mnist/model.json --validation-size 20000 --group 3
 */
import { parseArgs } from 'node:util';
import { PruningEnv } from '../env/pruning-env.js';
import { ScoringPool } from '../env/scoring-pool.js';
import { wasmHeapBytes } from '../src/backend/backend.js';
import { cloneModel } from '../src/models/io.js';
import { envConfigOf } from '../src/run/config.js';
import { formatBytes } from '../src/text.js';
import { BASELINE_OPTIONS, loadRecordedBaseline } from './recorded-baseline.js';

const { values } = parseArgs({
  options: {
    ...BASELINE_OPTIONS,
    group: { type: 'string', default: '0' },
    workers: { type: 'string', default: '2' },
  },
});
const { config, data, baseline } = await loadRecordedBaseline(values);
const workers = Number(values.workers);
const env = await PruningEnv.create(await cloneModel(baseline), data, envConfigOf(config));
const group = env.setGroup(Number(values.group));
const mask = Array.from({ length: group.size }, (_, c) => (c % 2 === 0 ? 1 : 0));
await env.evaluate(mask);
const before = process.memoryUsage().rss;
const pool = ScoringPool.start(workers);
env.scoreWith(pool);
await env.evaluateAll(Array.from({ length: workers }, () => mask));
const after = process.memoryUsage().rss;
const heaps = await Promise.all(Array.from({ length: workers }, () => pool.memory()));
const workerHeap = Math.max(...heaps.map((h) => h.wasmHeapBytes));
const perWorker = (after - before) / workers;
console.log(
  `group ${group.id} (${group.size} channels), ${config.rewardSamples} reward images, evaluation batch ${config.evalBatchSize}, cache ${env.activationCache.place} ${formatBytes(env.activationCache.bytes)}`,
);
console.log(
  `this thread's wasm heap ${formatBytes(wasmHeapBytes())}; resident before the pool ${formatBytes(before)}, after ${workers} workers scored ${formatBytes(after)}`,
);
console.log(
  `per worker: resident +${formatBytes(perWorker)}, its wasm heap ${formatBytes(workerHeap)}, the rest (runtime) ${formatBytes(perWorker - workerHeap)}`,
);
await pool.destroy();
