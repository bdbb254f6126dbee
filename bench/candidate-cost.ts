/**
 * What candidate recovery costs per scored candidate: for every prunable
 * group of a model, the time to evaluate one candidate (a seeded random mask
 * keeping half the filters) with no recovery, with least squares, with
 * adaptive BatchNorm, and with both. The settings are timed alternately, in
 * rounds, in one process, so machine load hits them alike; the table gives
 * the median per setting and the ratio to no recovery.
 *
 *   npx tsx bench/candidate-cost.ts --model src/models/pretrained/lenet5-mnist/model.json --dataset mnist
 *   npx tsx bench/candidate-cost.ts --model runs/<vgg train run>/model/model.json --dataset fashion-mnist --reward-samples 250
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import seedrandom from 'seedrandom';
import { PruningEnv } from '../env/pruning-env.js';
import type { RecoveryConfig } from '../env/recovery.js';
import { selectBackend } from '../src/backend/backend.js';
import { loadDataset } from '../src/data/datasets.js';
import { cloneModel, loadModel } from '../src/models/io.js';
import { buildGraph } from '../src/prune/graph.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'src/models/pretrained/lenet5-mnist/model.json' },
    dataset: { type: 'string', default: 'mnist' },
    'reward-samples': { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '5' },
    candidates: { type: 'string', default: '5' },
  },
});
await selectBackend('wasm');
const data = loadDataset(values.dataset!, { seed: 0 });
const baseline = await loadModel(values.model!);
const off: RecoveryConfig = { adaptiveBatchNorm: false, reconstruction: false, samples: 256, maxReconstructionInputs: 512 };
const settings: [string, RecoveryConfig][] = [
  ['none', off],
  ['least squares', { ...off, reconstruction: true }],
  ['adaptive BN', { ...off, adaptiveBatchNorm: true }],
  ['both', { ...off, reconstruction: true, adaptiveBatchNorm: true }],
];
const rewardSamples = Number(values['reward-samples']);
const envs = await Promise.all(
  settings.map(async ([, recovery]) =>
    PruningEnv.create(await cloneModel(baseline), data, {
      rewardSamples,
      evalBatchSize: 500,
      seed: 0,
      tolerance: 1,
      phi: 'filters',
      recovery,
      observationCriteria: false,
      criteriaSamples: 512,
    }),
  ),
);
console.log(
  `# ${values.model} / ${values.dataset}: ${rewardSamples} reward images, ${values.candidates} candidates per timing, ${values.rounds} alternating rounds, medians; ${new Date().toISOString()}`,
);
console.log(
  '| group | layers | ' +
    settings.map(([name]) => `${name} (ms)`).join(' | ') +
    ' | ' +
    settings
      .slice(1)
      .map(([name]) => `${name} / none`)
      .join(' | ') +
    ' |',
);
console.log(
  '|---|---|' +
    settings.map(() => '---|').join('') +
    settings
      .slice(1)
      .map(() => '---|')
      .join(''),
);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const group of buildGraph(baseline).prunableGroups()) {
  envs.forEach((env) => env.setGroup(group.id));
  const rng = seedrandom(`cost-${group.id}`);
  const masks = Array.from({ length: Number(values.candidates) }, () => Array.from({ length: group.size }, () => (rng() < 0.5 ? 1 : 0)));
  for (const env of envs) await env.evaluate(masks[0]); // warm-up
  const times: number[][] = settings.map(() => []);
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const [i, env] of envs.entries()) {
      const started = performance.now();
      for (const mask of masks) await env.evaluate(mask);
      times[i].push((performance.now() - started) / masks.length);
    }
  }
  const medians = times.map(median);
  console.log(
    `| ${group.id} | ${group.producers.join(', ')} | ${medians.map((m) => m.toFixed(1)).join(' | ')} | ${medians
      .slice(1)
      .map((m) => `${(m / medians[0]).toFixed(2)}x`)
      .join(' | ')} |`,
  );
}
for (const env of envs) {
  env.model.dispose();
  env.dispose();
}
baseline.dispose();
console.log(`tensors left after disposing every model and environment: ${tf.memory().numTensors}`);
