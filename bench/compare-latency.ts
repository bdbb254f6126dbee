/**
 * Re-measures the latency speedup of every model a `compare` run produced,
 * against its baseline, when nothing else runs. (compare measures each model
 * right after pruning it, so a busy machine skews its column.)
 *
 *   npx tsx bench/compare-latency.ts <compare-run-id> [...more runs] [--runs-dir runs] [--backend wasm]
 *
 * Latency: median of repeated model.predict calls after warm-up; the baseline
 * and the pruned model are measured in alternation, three rounds, and the
 * median of the three ratios is reported.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { selectBackend } from '../src/backend/backend.js';
import type { CompareResults } from '../src/run/compare-results.js';
import { loadModel } from '../src/models/io.js';
import { measureLatency } from '../src/prune/metrics.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { 'runs-dir': { type: 'string', default: 'runs' }, backend: { type: 'string', default: 'wasm' } },
});
const backend = await selectBackend(values.backend);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(
  `# backend ${backend.name}; latency = median model.predict time (batch 1: 30 calls, batch 256: 5), baseline and pruned model alternating, median of 3 rounds`,
);
console.log('| run | method | theoretical speedup | measured speedup batch 1 | measured speedup batch 256 |');
console.log('|---|---|---|---|---|');
for (const runId of positionals) {
  const results = JSON.parse(readFileSync(join(values['runs-dir']!, runId, 'results.json'), 'utf8')) as CompareResults;
  const baseline = await loadModel(results.baseline);
  for (const row of results.rows) {
    if (row.status !== 'done' || row.modelPath === undefined) continue;
    const pruned = await loadModel(row.modelPath);
    const ratios: Record<1 | 256, number[]> = { 1: [], 256: [] };
    for (let round = 0; round < 3; round++) {
      for (const batch of [1, 256] as const) {
        const options = { repeats: batch === 1 ? 30 : 5 };
        const before = (await measureLatency(baseline, batch, options)).medianMs;
        const after = (await measureLatency(pruned, batch, options)).medianMs;
        ratios[batch].push(before / after);
      }
    }
    console.log(
      `| ${runId} | ${row.method} | ${row.theoreticalSpeedup!.toFixed(2)}x | ${median(ratios[1]).toFixed(2)}x | ${median(ratios[256]).toFixed(2)}x |`,
    );
    pruned.dispose();
  }
  baseline.dispose();
}
