/**
 * Does memory grow with candidate evaluations? Scores --evaluations candidate
 * masks on a small BN model (the environment of the agent's search, with
 * recovery on: adaptive BN and least squares), and every --every
 * evaluations forces a garbage collection and prints the JS heap, the wasm
 * heap, tensors and backend buffers. A leak grows without bound; a cache
 * that fills and then stays is flat after it.
 *
 *   node --expose-gc --import tsx bench/heap-drift.ts --evaluations 20000 --every 2000
 *   --reward-samples N images each candidate is scored on (default 100; fewer
 *   makes a run faster, the layers built per candidate are the same)
 *   --snapshots DIR writes V8 heap snapshots after the first and the last
 *   checkpoint (open both in Chrome DevTools, "Comparison" view)
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeHeapSnapshot } from 'node:v8';
import * as tf from '@tensorflow/tfjs';
import { PruningEnv } from '../env/pruning-env.js';
import { selectBackend, wasmHeapBytes } from '../src/backend/backend.js';
import { loadDataset } from '../src/data/datasets.js';

const { values } = parseArgs({
  options: {
    evaluations: { type: 'string', default: '20000' },
    every: { type: 'string', default: '2000' },
    'reward-samples': { type: 'string', default: '100' },
    snapshots: { type: 'string' },
  },
});
const [evaluations, every] = [Number(values.evaluations), Number(values.every)];
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');

await selectBackend('wasm');
const data = loadDataset('mnist', { seed: 0, validationSize: 700, trainLimit: 1024, testLimit: 10 });
const input = tf.input({ shape: [28, 28, 1] });
let x = tf.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2, name: 'c1' }).apply(input) as tf.SymbolicTensor;
x = tf.layers.batchNormalization({ name: 'bn1' }).apply(x) as tf.SymbolicTensor;
x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
x = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, name: 'c2' }).apply(x) as tf.SymbolicTensor;
x = tf.layers.batchNormalization({ name: 'bn2' }).apply(x) as tf.SymbolicTensor;
const output = tf.layers.dense({ units: 10, activation: 'softmax' }).apply(tf.layers.flatten().apply(tf.layers.reLU().apply(x))) as tf.SymbolicTensor;
const model = tf.model({ inputs: input, outputs: output });
const env = await PruningEnv.create(model, data, {
  rewardSamples: Number(values['reward-samples']),
  evalBatchSize: 128,
  seed: 0,
  tolerance: 1,
  phi: 'filters',
  recovery: { adaptiveBatchNorm: true, reconstruction: true, samples: 64, maxReconstructionInputs: 512 },
  observationCriteria: false,
  criteriaSamples: 0,
});
env.setGroup(env.graph.prunableGroups()[0].id);

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(2);
const rows: { evaluations: number; heap: number }[] = [];
console.log('| evaluations | JS heap used MiB | external MiB | wasm heap MiB | RSS MiB | tensors | backend buffers |');
console.log('|---|---|---|---|---|---|---|');
const checkpoint = (done: number) => {
  gc();
  gc();
  const m = process.memoryUsage();
  rows.push({ evaluations: done, heap: m.heapUsed });
  console.log(
    `| ${done} | ${mib(m.heapUsed)} | ${mib(m.external)} | ${mib(wasmHeapBytes())} | ${mib(m.rss)} | ${tf.memory().numTensors} | ${tf.backend().numDataIds()} |`,
  );
};
if (values.snapshots) mkdirSync(values.snapshots, { recursive: true });
for (let i = 0; i <= evaluations; i++) {
  if (i % every === 0) {
    checkpoint(i);
    if (values.snapshots && (i === every || i === evaluations)) console.log(`snapshot ${writeHeapSnapshot(join(values.snapshots, `after-${i}.heapsnapshot`))}`);
  }
  if (i < evaluations) await env.evaluate(Array.from({ length: 6 }, (_, c) => ((i >> c) & 1) | (c === i % 6 ? 1 : 0)));
}
// Growth per evaluation after the first checkpoint past zero (caches built).
const [first, last] = [rows[1], rows[rows.length - 1]];
console.log(
  `\nJS heap growth from ${first.evaluations} to ${last.evaluations} evaluations: ${((last.heap - first.heap) / (last.evaluations - first.evaluations)).toFixed(1)} bytes per evaluation`,
);
env.dispose();
