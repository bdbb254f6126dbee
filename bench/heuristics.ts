/**
 * Every hand-made criterion on LeNet-5 / MNIST at a 1-point tolerance: the
 * largest pruning each finds (bisection over the ratio, each probe pruned
 * one-shot from the baseline and fine-tuned), and what it buys.
 *
 *   npx tsx bench/heuristics.ts [--baseline runs/<train-run>/model/model.json] [--tolerance 1]
 *       [--rankings local,global] [--finetune-images 10000] [--probes 12]
 *
 * The baseline defaults to the newest finished `train` run of lenet5 on mnist
 * in runs/. Accuracy drops are on the validation split (what the search sees)
 * and the test split (read once, for this report).
 */
import { parseArgs } from 'node:util';
import { selectBackend } from '../src/backend/backend.js';
import { loadDataset } from '../src/data/datasets.js';
import { CRITERIA } from '../src/heuristics/criteria.js';
import { DEFAULT_HEURISTIC_CONFIG, DEFAULT_SEARCH, describeResolution, prunableSizes, pruneToTolerance, type Ranking } from '../src/heuristics/pipeline.js';
import { pruneReport } from '../src/run/report.js';
import { findBaseline, loadBaseline } from '../src/run/baselines.js';

const { values } = parseArgs({
  options: {
    baseline: { type: 'string' },
    tolerance: { type: 'string', default: '1' },
    rankings: { type: 'string', default: 'local,global' },
    'finetune-images': { type: 'string', default: '10000' },
    probes: { type: 'string', default: String(DEFAULT_SEARCH.maxProbes) },
  },
});
await selectBackend('wasm');
const source = findBaseline(values.baseline ?? 'lenet5', 'mnist', 'runs');
if (source.kind === 'none')
  throw new Error('no trained lenet5 baseline in runs/: run `node bin/autoprune.mjs train --model lenet5 --dataset mnist --epochs 6` first');
const data = loadDataset('mnist', { seed: 0 });
const tolerance = Number(values.tolerance);
const finetune = { ...DEFAULT_HEURISTIC_CONFIG.finetune, imagesPerEpoch: Number(values['finetune-images']) };
console.log(`# LeNet-5 / MNIST, tolerance ${tolerance} point(s) on validation; baseline ${source.path}`);
const unpruned = await loadBaseline(source);
const groupSizes = prunableSizes(unpruned);
unpruned.dispose();
console.log(
  `# one-shot pruning, bisection up to 95% of channels to ${describeResolution(groupSizes)} (at most ${values.probes} probes), fine-tuning 1 epoch of ${finetune.imagesPerEpoch} images (Adam ${finetune.learningRate}, cosine) after pruning; backend wasm`,
);
const rows = [
  '| criterion | ranking | channels removed | FLOPs reduction | params reduction | val drop | test accuracy (drop) | run time |',
  '|---|---|---|---|---|---|---|---|',
];
for (const ranking of values.rankings!.split(',') as Ranking[]) {
  for (const criterion of CRITERIA) {
    const model = await loadBaseline(source);
    const started = performance.now();
    try {
      const result = await pruneToTolerance(
        model,
        data,
        { ...DEFAULT_HEURISTIC_CONFIG, criterion, ranking, finetune },
        { tolerance, maxRatio: 0.95, maxProbes: Number(values.probes) },
      );
      const seconds = (performance.now() - started) / 1000;
      const r = await pruneReport(model, result.model, data);
      rows.push(
        `| ${criterion} | ${ranking} | ${(100 * result.ratio).toFixed(1)}% | ${r.theoreticalSpeedup.toFixed(2)}x | ${r.compressionRatio.toFixed(2)}x | ${r.validationDrop.toFixed(2)} | ${(100 * r.pruned.testAccuracy).toFixed(2)}% (${r.testDrop.toFixed(2)}) | ${seconds.toFixed(0)} s |`,
      );
      result.model.dispose();
    } catch (err) {
      rows.push(`| ${criterion} | ${ranking} | failed: ${(err as Error).message} | | | | | |`);
    }
    console.log(rows[rows.length - 1]);
    model.dispose();
  }
}
console.log(`\n${rows.join('\n')}`);
