/**
 * Does pruning make the model faster in practice? Prunes 50% of every
 * prunable group by L1 norm (no fine-tuning: speed does not depend on the
 * weights' values) and compares the theoretical speedup (MACs) with the
 * measured latency speedup on the chosen backend, batch 1 and batch 256.
 *
 *   npx tsx bench/prune-speed.ts [--backend wasm] [--models vgg-small,lenet5,resnet-small]
 *
 * Latency: median of repeated model.predict calls after warm-up; the original
 * and pruned models are measured in alternation, three rounds, and the median
 * of the three ratios is reported (timings drift on shared machines).
 */
import { parseArgs } from 'node:util';
import { selectBackend } from '../src/backend/backend.js';
import { buildZooModel } from '../src/models/zoo.js';
import { scoreGroups, topChannels } from '../src/heuristics/criteria.js';
import { buildGraph } from '../src/prune/graph.js';
import { measureLatency, modelCost, reduction } from '../src/prune/metrics.js';
import { pruneModel } from '../src/prune/surgery.js';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'wasm' },
    models: { type: 'string', default: 'vgg-small,lenet5,resnet-small' },
    ratio: { type: 'string', default: '0.5' },
  },
});
const ratio = Number(values.ratio);
const backend = await selectBackend(values.backend);
console.log(`# prune ${100 * ratio}% of every prunable group by L1 norm; backend ${backend.name}; latency = median model.predict time, 3 alternating rounds`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = [
  '| model | params | MACs | compression | theoretical speedup | measured speedup batch 1 | measured speedup batch 256 | measured / theoretical (256) |',
  '|---|---|---|---|---|---|---|---|',
];

for (const name of values.models!.split(',')) {
  const model = buildZooModel(name, { inputShape: [28, 28, 1], numClasses: 10, seed: 0 });
  const graph = buildGraph(model);
  const scores = scoreGroups('l1', { graph, seed: 0 }, graph.prunableGroups());
  const plan = new Map(graph.prunableGroups().map((g) => [g.id, topChannels(scores.get(g.id)!, Math.max(1, Math.round(g.size * (1 - ratio))))]));
  const pruned = await pruneModel(graph, plan);
  const [before, after] = [modelCost(model), modelCost(pruned)];
  const { compressionRatio, theoreticalSpeedup } = reduction(before, after);
  const measured: Record<number, number> = {};
  for (const batch of [1, 256]) {
    const ratios: number[] = [];
    for (let round = 0; round < 3; round++) {
      const repeats = batch === 1 ? 50 : 8;
      const original = await measureLatency(model, batch, { repeats });
      const smaller = await measureLatency(pruned, batch, { repeats });
      ratios.push(original.medianMs / smaller.medianMs);
      console.log(`${name} batch ${batch} round ${round + 1}: original ${original.medianMs.toFixed(2)} ms, pruned ${smaller.medianMs.toFixed(2)} ms`);
    }
    measured[batch] = median(ratios);
  }
  rows.push(
    `| ${name} | ${before.params.toLocaleString('en-US')} -> ${after.params.toLocaleString('en-US')} | ${before.macs.toLocaleString('en-US')} -> ${after.macs.toLocaleString('en-US')} | ${compressionRatio.toFixed(2)}x | ${theoreticalSpeedup.toFixed(2)}x | ${measured[1].toFixed(2)}x | ${measured[256].toFixed(2)}x | ${((100 * measured[256]) / theoreticalSpeedup).toFixed(0)}% |`,
  );
  model.dispose();
  pruned.dispose();
}
console.log(`\n${rows.join('\n')}`);
