/**
 * The try-and-learn agent on a real model: runs `autoprune prune` (or reads a
 * finished prune run) and prints what the README reports: filters kept per
 * group, FLOPs and parameter reduction, measured latency speedup, validation
 * and test accuracy drop, wall time, and candidate evaluations per second
 * against the rate a FLOP-bound backend would reach.
 *
 *   npx tsx bench/agent.ts [--config configs/lenet5-mnist.json]   # runs it (about 15-25 min for LeNet-5)
 *   npx tsx bench/agent.ts --run <prune-run-id>                    # reports on a finished run
 *
 * FLOP-bound rate: 15 GFLOP/s (7.5 GMAC/s, the wasm SIMD figure for one core)
 * divided by the MACs a candidate runs: for each group, the layers from the
 * group's first layer to the output, at the widths of the group's final
 * decision (the converged policy samples masks near it), times the reward images.
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { selectBackend } from '../src/backend/backend.js';
import { loadModel } from '../src/models/io.js';
import { buildGraph } from '../src/prune/graph.js';
import { layerMacs } from '../src/prune/metrics.js';
import { parsePruneConfig } from '../src/run/config.js';
import { openRun } from '../src/run/results.js';

const MACS_PER_SECOND = 7.5e9;
const { values } = parseArgs({
  options: { config: { type: 'string', default: 'configs/lenet5-mnist.json' }, run: { type: 'string' }, 'runs-dir': { type: 'string', default: 'runs' } },
});
let runId = values.run;
if (runId === undefined) {
  const args = ['bin/autoprune.mjs', '--no-tui', '--runs-dir', values['runs-dir']!, 'prune', '--config', values.config!];
  console.log(`$ node ${args.join(' ')}`);
  const child = spawnSync('node', args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  if (child.status !== 0) throw new Error(`prune failed (exit ${child.status})`);
  runId = child.stdout.trim();
}
await selectBackend('wasm');
const run = await openRun(values['runs-dir']!, runId, 'prune', 'are measured here');
const config = parsePruneConfig(run.record.config, `${runId} config`);
const { groups, report: r, summary } = run.record.result;
if (groups === undefined || r === undefined || summary === undefined) throw new Error(`run ${runId} has not finished`);
console.log(
  `# run ${runId}: ${config.model} / ${config.dataset}, tolerance ${config.tolerance}, seed ${config.seed}, ${config.rewardSamples} reward images, backend ${run.record.backend}`,
);
console.log(
  '\n| group | layers | kept / total | agent kept | count-search probes after it | iterations | validation after fine-tune | candidate nets/s | FLOP-bound nets/s |',
);
console.log('|---|---|---|---|---|---|---|---|---|');
for (const g of groups) {
  // Cost of one candidate: the layers the group touches and everything after them, at the decided width.
  const model = await loadModel(g.checkpoint);
  const graph = buildGraph(model);
  const affected = graph.downstreamOf(graph.group(g.groupId).members.map((m) => m.layer));
  const macs = affected.reduce((sum, name) => sum + layerMacs(graph.node(name).layer), 0);
  const searchSeconds = g.iterations.reduce((s, i) => s + i.seconds, 0);
  const measured = g.evaluations / searchSeconds;
  const bound = MACS_PER_SECOND / (macs * config.rewardSamples);
  console.log(
    `| ${g.groupId} | ${g.producers.join(', ')} | ${g.kept.length} / ${g.size} | ${g.agentKept} | ${g.relaxed} | ${g.iterations.length} | ${(100 * g.validationAccuracy).toFixed(2)}% | ${measured.toFixed(1)} | ${bound.toFixed(1)} (${((100 * measured) / bound).toFixed(0)}%) |`,
  );
  model.dispose();
}
console.log(`
| FLOPs reduction | params reduction | measured speedup batch 1 / 256 | validation drop | test accuracy (drop) | wall time |
|---|---|---|---|---|---|
| ${r.theoreticalSpeedup.toFixed(2)}x | ${r.compressionRatio.toFixed(2)}x | ${r.measuredSpeedup.batch1.toFixed(2)}x / ${r.measuredSpeedup.batch256.toFixed(2)}x | ${r.validationDrop.toFixed(2)} | ${(100 * r.pruned.testAccuracy).toFixed(2)}% (${r.testDrop.toFixed(2)}) | ${(summary.seconds / 60).toFixed(1)} min |`);
