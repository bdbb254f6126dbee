/**
 * Measured time of a compare's rows: every row's pruned model and the
 * unpruned baseline timed side by side (alternated rounds) on each target at
 * each batch size, as compare does at its end; for results files written
 * before it did, or on another target. The models must still be where the
 * results name them. Prints one table per file and target; `--write` adds
 * the times to the results file (under `latencyByTarget`).
 *
 *   npx tsx bench/time-rows.ts --targets this,chromium-wasm --batches 1,256 bench/results/lenet5-mnist-b1-certified-seed0.json
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { selectBackend } from '../src/backend/backend.js';
import { type CompareResults, methodLabel } from '../src/run/compare-results.js';
import { type ModelTimes, timeSideBySide } from '../src/latency/side-by-side.js';
import { type LatencyTargetName, openTarget } from '../src/latency/target.js';
import { loadModel } from '../src/models/io.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    targets: { type: 'string', default: 'this' },
    batches: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '7' },
    write: { type: 'boolean', default: false },
  },
});
const backend = await selectBackend('wasm');
const batches = values.batches!.split(',').map(Number);
console.log(
  `# measured speedups, ${values.rounds} alternated rounds per batch size; wasm in this process has ${backend.threads} threads; ${new Date().toISOString()}`,
);
for (const file of positionals) {
  const results = JSON.parse(readFileSync(file, 'utf8')) as CompareResults & { latencyByTarget?: Record<string, Record<string, ModelTimes>> };
  const rows = results.rows.filter((r) => r.status === 'done' && r.modelPath !== undefined && existsSync(r.modelPath));
  const baseline = await loadModel(results.baseline);
  const models = await Promise.all(rows.map((r) => loadModel(r.modelPath!)));
  for (const targetName of values.targets!.split(',') as LatencyTargetName[]) {
    const target = await openTarget(targetName);
    try {
      const timed = await timeSideBySide(baseline, models, target, batches, Number(values.rounds));
      console.log(
        `\n### ${file}: ${target.description} (unpruned ${timed.unpruned.batches.map((b) => `${b.ms.toFixed(2)} ms at batch ${b.batch}`).join(', ')})`,
      );
      console.log(`| method | FLOPs | ${batches.map((b) => `speedup at batch ${b} (rounds)`).join(' | ')} |`);
      console.log(`|---|---|${batches.map(() => '---').join('|')}|`);
      rows.forEach((row, i) => {
        const cells = timed.models[i].batches.map((b) => `${b.speedup.toFixed(2)}x (${b.spread[0].toFixed(2)}-${b.spread[1].toFixed(2)})`);
        console.log(`| ${methodLabel(row)} | ${row.theoreticalSpeedup!.toFixed(2)}x | ${cells.join(' | ')} |`);
      });
      if (values.write) {
        results.latencyByTarget ??= {};
        results.latencyByTarget[target.description] = Object.fromEntries(rows.map((row, i) => [row.method, timed.models[i]]));
      }
    } finally {
      await target.close();
    }
  }
  for (const m of [baseline, ...models]) m.dispose();
  if (values.write) writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
}
