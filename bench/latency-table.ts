/**
 * How well does a latency table predict a pruned network's time? For each
 * shipped baseline and target: the table measured (every layer alone at its
 * grid of widths), then `--prunings` seeded random prunings built and timed
 * whole, alternated; printed per model and target: the whole network's time,
 * the timing noise, the mean and largest relative error of the predictions,
 * and what the table cost. Run it on a quiet machine.
 *
 *   npx tsx bench/latency-table.ts --models lenet5-mnist,vgg-small-fashion-mnist --targets this,chromium-wasm --batch 1
 */
import { parseArgs } from 'node:util';
import { selectBackend } from '../src/backend/backend.js';
import { checkLatencyTable, measureLatencyTable } from '../src/latency/table.js';
import { type LatencyTargetName, openTarget } from '../src/latency/target.js';
import { loadModel } from '../src/models/io.js';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'lenet5-mnist,vgg-small-fashion-mnist,resnet-small-fashion-mnist,mobilenet-small-fashion-mnist' },
    targets: { type: 'string', default: 'this,chromium-wasm' },
    batch: { type: 'string', default: '1' },
    prunings: { type: 'string', default: '6' },
  },
});
const backend = await selectBackend('wasm');
const batch = Number(values.batch);
console.log(
  `# latency tables, batch ${batch}, ${values.prunings} random prunings each (every group keeping 20-100%); wasm in this process with ${backend.threads} threads; ${new Date().toISOString()}`,
);
console.log('| model | target | whole network (ms) | timing noise | mean error | largest error | predicted / measured (ms) | seconds |');
console.log('|---|---|---|---|---|---|---|---|');
for (const name of values.models!.split(',')) {
  const model = await loadModel(`src/models/pretrained/${name}/model.json`);
  for (const targetName of values.targets!.split(',') as LatencyTargetName[]) {
    const target = await openTarget(targetName);
    try {
      const table = await measureLatencyTable(model, target, { batch });
      const check = await checkLatencyTable(model, table, target, { prunings: Number(values.prunings) });
      const pairs = check.prunings.map((p) => `${p.predictedMs.toFixed(2)}/${p.measuredMs.toFixed(2)}`).join(', ');
      console.log(
        `| ${name} | ${target.description} | ${table.wholeMs.toFixed(2)} | ${(100 * table.noise).toFixed(0)}% | ${(100 * check.meanError).toFixed(1)}% | ${(100 * check.maxError).toFixed(1)}% | ${pairs} | ${table.seconds.toFixed(0)} |`,
      );
    } finally {
      await target.close();
    }
  }
  model.dispose();
}
