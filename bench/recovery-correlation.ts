/**
 * Does a candidate's score before fine-tuning predict its accuracy after?
 * EagleEye's claim for adaptive BatchNorm, measured here: for one group of a
 * BatchNorm model, seeded random masks (keeping 50-95% of the filters) are
 * scored on the reward subset with each recovery setting (none, adaptive
 * BatchNorm, least squares, both: the config's), then each is pruned,
 * recovered as the agent's loop does (the config's recovery) and fine-tuned
 * with the config's fine-tune, and its accuracy is taken on the guarantee
 * split. Printed: one row per candidate, and per setting the Spearman rank
 * correlation of its scores with the accuracies after fine-tuning.
 *
 *   npx tsx bench/recovery-correlation.ts --config configs/compare-resnet-small-fashion-mnist.json --model src/models/pretrained/resnet-small-fashion-mnist/model.json --group 6 --candidates 12
 *
 * --scores compares what a candidate is scored by instead (issue 41, item 2):
 * accuracy on the config's reward subset and on 256 images, and agreement
 * with the unpruned model's answers on 256 (rewardScore: agreement), and
 * kl fitness on 256 (rewardScore: kl: the mean of exp(-KL) from the unpruned
 * model's probabilities), each with the config's recovery and with none. The data are the model's own
 * (a shipped baseline's size and scaling), the validation split as
 * --validation-size sets it (the shipped MobileNetV2 baseline's is 20,000):
 *
 *   npx tsx bench/recovery-correlation.ts --scores --config configs/compare-mobilenetv2-0.35-fashion-mnist.json --model src/models/pretrained/mobilenetv2-0.35-fashion-mnist/model.json --validation-size 20000 --group 12 --candidates 40
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import seedrandom from 'seedrandom';
import { type EnvConfig, PruningEnv } from '../env/pruning-env.js';
import { holdoutSplits } from '../src/certify/holdout.js';
import type { RecoveryConfig } from '../env/recovery.js';
import { cloneModel } from '../src/models/io.js';
import { holdoutOf } from '../src/run/config.js';
import { envConfigOf } from '../src/run/config.js';
import { evaluateAccuracy, trainModel } from '../src/train/train.js';
import { BASELINE_OPTIONS, loadRecordedBaseline } from './recorded-baseline.js';

const { values } = parseArgs({
  options: {
    ...BASELINE_OPTIONS,
    group: { type: 'string', default: '0' },
    candidates: { type: 'string', default: '12' },
    seed: { type: 'string', default: '0' },
    scores: { type: 'boolean', default: false },
  },
});
const { config, data, baseline } = await loadRecordedBaseline(values, { seed: Number(values.seed) });
const envConfig = envConfigOf(config);
const guarded = { ...data, validation: holdoutSplits(data.validation, holdoutOf(config), data.inputShape).selection };
const off: RecoveryConfig = { ...config.recovery, adaptiveBatchNorm: false, reconstruction: false };
const settings: [string, Partial<EnvConfig>][] = values.scores
  ? [
      [`accuracy on ${config.rewardSamples}, recovered`, {}],
      ['accuracy on 256, recovered', { rewardSamples: 256 }],
      ['agreement on 256, recovered', { rewardSamples: 256, rewardScore: 'agreement' }],
      ['kl fitness on 256, recovered', { rewardSamples: 256, rewardScore: 'kl' }],
      [`accuracy on ${config.rewardSamples}, not recovered`, { recovery: off }],
      ['accuracy on 256, not recovered', { rewardSamples: 256, recovery: off }],
      ['agreement on 256, not recovered', { rewardSamples: 256, rewardScore: 'agreement', recovery: off }],
      ['kl fitness on 256, not recovered', { rewardSamples: 256, rewardScore: 'kl', recovery: off }],
    ]
  : [
      ['none', { recovery: off }],
      ['adaptive BN', { recovery: { ...off, adaptiveBatchNorm: true } }],
      ['least squares', { recovery: { ...off, reconstruction: true } }],
      ['both (config)', {}],
    ];
const envs = await Promise.all(settings.map(async ([, change]) => PruningEnv.create(await cloneModel(baseline), data, { ...envConfig, ...change })));
// The pruned model that is fine-tuned is recovered as the agent's loop recovers it: the config's recovery.
const recovering = envs[settings.findIndex(([, change]) => change.recovery === undefined)];
const groupId = Number(values.group);
const group = envs.map((env) => env.setGroup(groupId))[0];
const unprunedGuarantee = await evaluateAccuracy(baseline, guarded.validation, data.inputShape);
console.log(
  `# ${values.model} / ${values.dataset}, group ${groupId} (${group.producers.join(', ')}, ${group.size} filters): ${values.candidates} seeded random masks keeping 50-95%; ` +
    `scores on the reward subset (${config.rewardSamples} images unless the setting says; unpruned ${(100 * envs[0].baseAccuracy).toFixed(2)}%); fine-tune ${config.finetune.imagesPerEpoch} images x ${config.finetune.epochs} at lr ${config.finetune.learningRate}, ` +
    `BatchNorm statistics re-estimated on ${config.finetune.batchNormImages}; accuracy after it on the selection split (unpruned ${(100 * unprunedGuarantee).toFixed(2)}%); ${new Date().toISOString()}`,
);
console.log(`| candidate | kept | ${settings.map(([name]) => `score: ${name}`).join(' | ')} | after fine-tuning | seconds |`);
console.log(`|---|---|${settings.map(() => '---|').join('')}---|---|`);
const rng = seedrandom(`recovery-correlation-${values.seed}-${groupId}`);
const scores: number[][] = settings.map(() => []);
const after: number[] = [];
for (let i = 0; i < Number(values.candidates); i++) {
  const keep = 0.5 + 0.45 * rng();
  const mask = Array.from({ length: group.size }, () => (rng() < keep ? 1 : 0));
  if (!mask.includes(1)) mask[0] = 1;
  const kept = mask.flatMap((m, c) => (m ? [c] : []));
  const started = performance.now();
  for (const [s, env] of envs.entries()) scores[s].push(await env.evaluate(mask));
  const model = await recovering.prunedModel(kept);
  const { validationAccuracy } = await trainModel(model, guarded, { ...config.finetune, seed: config.seed, restoreBest: true });
  model.dispose();
  after.push(validationAccuracy);
  console.log(
    `| ${i} | ${kept.length}/${group.size} | ${scores.map((s) => `${(100 * s[i]).toFixed(2)}%`).join(' | ')} | ${(100 * validationAccuracy).toFixed(2)}% | ${((performance.now() - started) / 1000).toFixed(0)} |`,
  );
}

/** Spearman's rank correlation (average ranks for ties). */
function spearman(xs: number[], ys: number[]): number {
  const ranks = (v: number[]) => {
    const order = v.map((x, i) => [x, i]).sort((a, b) => a[0] - b[0]);
    const r = new Array<number>(v.length);
    for (let i = 0; i < order.length; ) {
      let j = i;
      while (j + 1 < order.length && order[j + 1][0] === order[i][0]) j++;
      for (let k = i; k <= j; k++) r[order[k][1]] = (i + j) / 2;
      i = j + 1;
    }
    return r;
  };
  const [rx, ry] = [ranks(xs), ranks(ys)];
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const [mx, my] = [mean(rx), mean(ry)];
  const cov = rx.reduce((a, x, i) => a + (x - mx) * (ry[i] - my), 0);
  return cov / Math.sqrt(rx.reduce((a, x) => a + (x - mx) ** 2, 0) * ry.reduce((a, y) => a + (y - my) ** 2, 0));
}
console.log('');
const meanLoss = (accuracies: number[], unpruned: number) => (100 * accuracies.reduce((a, x) => a + (unpruned - x), 0)) / accuracies.length;
console.log(
  `| score | Spearman correlation with the accuracy after fine-tuning | mean points lost by the score (after fine-tuning: ${meanLoss(after, unprunedGuarantee).toFixed(2)}) |`,
);
console.log('|---|---|---|');
for (const [s, [name]] of settings.entries())
  console.log(`| ${name} | ${spearman(scores[s], after).toFixed(2)} | ${meanLoss(scores[s], envs[s].baseAccuracy).toFixed(2)} |`);
for (const env of envs) {
  env.model.dispose();
  env.dispose();
}
baseline.dispose();
console.log(`\ntensors left after disposing every model and environment: ${tf.memory().numTensors}`);
