/**
 * Does the tolerance hold on images no choice has seen? For each committed
 * compare results file: every row's FLOPs reduction, its drop on the split it
 * was chosen with (validation; the selection split for certified results),
 * its certified drop and upper bound (certified results only), and its test
 * drop with the interval; then how many rows lose more than b on test, per
 * file and in all, which rows fell back to an earlier model of their path and
 * what that cost (the final model's FLOPs reduction against the certified
 * one's), and the agent's FLOPs against the best criterion's.
 *
 *   npx tsx bench/certified-table.ts bench/results/lenet5-mnist-b1-seed0.json bench/results/lenet5-mnist-b1-certified-seed0.json ...
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { certifiedCheck, finalCertified } from '../src/certify/certification.js';
import { type CompareResults, methodLabel, mostFlopsRemoved } from '../src/run/compare-results.js';

const files = process.argv.slice(2);
if (files.length === 0) throw new Error('give the results files');
let [over, rows] = [0, 0];
const agentRatios: string[] = [];
const fallbacks: string[] = [];
for (const file of files) {
  const results = JSON.parse(readFileSync(file, 'utf8')) as CompareResults;
  const done = results.rows.filter((r) => r.status === 'done');
  const certified = done.some((r) => r.certification !== undefined);
  const { unpruned, tolerance } = results;
  console.log(
    `\n### ${basename(file)}: ${certified ? `certified procedure (${results.holdout?.selection} selection / ${results.holdout?.certification} certification images, ${100 * (results.holdout?.confidence ?? 0.95)}%)` : 'point-estimate procedure (before certification)'}`,
  );
  console.log('| method | FLOPs | params | validation drop | certified drop (bound) | test drop (interval) | over b on test |');
  console.log('|---|---|---|---|---|---|---|');
  let fileOver = 0;
  for (const r of done) {
    const testDrop = 100 * (unpruned.testAccuracy - r.testAccuracy!);
    const isOver = testDrop > tolerance;
    if (isOver) fileOver++;
    const check = r.certification && certifiedCheck(r.certification);
    const cert =
      check === undefined
        ? '-'
        : `${check.drop.toFixed(2)} (${check.upperBound.toFixed(2)})${finalCertified(r.certification!) ? '' : ` fallback: ${check.label}`}`;
    const interval = r.testDropInterval === undefined ? '' : ` (${r.testDropInterval[0].toFixed(2)} to ${r.testDropInterval[1].toFixed(2)})`;
    console.log(
      `| ${methodLabel(r)} | ${r.theoreticalSpeedup!.toFixed(2)}x | ${r.compressionRatio!.toFixed(2)}x | ${(100 * (unpruned.validationAccuracy - r.validationAccuracy!)).toFixed(2)} | ${cert} | ${testDrop.toFixed(2)}${interval} | ${isOver ? 'yes' : ''} |`,
    );
  }
  console.log(`\n${fileOver} of ${done.length} rows lose more than b = ${tolerance} on test.`);
  for (const r of done.filter((r) => r.certification !== undefined && !finalCertified(r.certification)))
    fallbacks.push(
      `${basename(file)}: ${methodLabel(r)} fell back to ${certifiedCheck(r.certification!).label}, ${r.uncertified?.theoreticalSpeedup.toFixed(2) ?? '?'}x -> ${r.theoreticalSpeedup!.toFixed(2)}x FLOPs`,
    );
  over += fileOver;
  rows += done.length;
  const agent = done.find((r) => r.method === 'rl');
  const best = mostFlopsRemoved(done.filter((r) => r.method !== 'rl'));
  if (agent !== undefined && best !== undefined)
    agentRatios.push(
      `${basename(file)}: the agent ${agent.theoreticalSpeedup!.toFixed(2)}x, best criterion ${methodLabel(best)} ${best.theoreticalSpeedup!.toFixed(2)}x: ${(agent.theoreticalSpeedup! / best.theoreticalSpeedup!).toFixed(2)} times`,
    );
}
console.log(`\nIn all: ${over} of ${rows} rows lose more than b on test; ${fallbacks.length} fell back to an earlier model of their path.`);
for (const line of fallbacks) console.log(`- ${line}`);
for (const line of agentRatios) console.log(`- ${line}`);
