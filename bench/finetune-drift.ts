/**
 * What a probe's fine-tune does to a model that was not pruned: the unpruned
 * baseline fine-tuned as a compare's probes are (the config's `finetune`),
 * at several learning rates and distillation shares (the teacher is the
 * unpruned model itself), and its drop on the selection split. A drop here is paid by every
 * probe of every method before pruning costs anything: the learning rate
 * should leave the unpruned model where it is.
 *
 *   npx tsx bench/finetune-drift.ts --config configs/compare-mobilenetv2-0.35-fashion-mnist.json \
 *     --model src/models/pretrained/mobilenetv2-0.35-fashion-mnist/model.json --validation-size 20000 --rates 3e-4,1e-4,3e-5 --distillation 0,0.5
 */
import { parseArgs } from 'node:util';
import { holdoutSplits } from '../src/certify/holdout.js';
import { cloneModel } from '../src/models/io.js';
import { holdoutOf } from '../src/run/config.js';
import { evaluateAccuracy, trainModel } from '../src/train/train.js';
import { BASELINE_OPTIONS, loadRecordedBaseline } from './recorded-baseline.js';

const { values } = parseArgs({
  options: {
    ...BASELINE_OPTIONS,
    rates: { type: 'string', default: '3e-4,1e-4,3e-5' },
    distillation: { type: 'string', default: '0' },
  },
});
const { config, data, baseline } = await loadRecordedBaseline(values);
const selection = { ...data, validation: holdoutSplits(data.validation, holdoutOf(config), data.inputShape).selection };
const unpruned = await evaluateAccuracy(baseline, selection.validation, data.inputShape);
const f = config.finetune;
console.log(
  `# ${values.model}: the unpruned model fine-tuned as a probe is (${f.imagesPerEpoch ?? 'all'} images x ${f.epochs}, batch ${f.batchSize}, seed ${config.seed}); selection split ${selection.validation.count} images, unpruned ${(100 * unpruned).toFixed(2)}%; ${new Date().toISOString()}`,
);
console.log('| learning rate | distillation | selection accuracy after | drop (points) | seconds |');
console.log('|---|---|---|---|---|');
for (const distillation of values.distillation.split(',').map(Number))
  for (const rate of values.rates.split(',').map(Number)) {
    const started = performance.now();
    const model = await cloneModel(baseline);
    const tune = { ...f, learningRate: rate, distillation, seed: config.seed, restoreBest: true };
    const { validationAccuracy } = await trainModel(model, selection, tune, {}, baseline);
    model.dispose();
    console.log(
      `| ${rate} | ${distillation} | ${(100 * validationAccuracy).toFixed(2)}% | ${(100 * (unpruned - validationAccuracy)).toFixed(2)} | ${((performance.now() - started) / 1000).toFixed(0)} |`,
    );
  }
baseline.dispose();
