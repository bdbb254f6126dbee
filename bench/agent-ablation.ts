/**
 * Ablation of the agent's mechanisms: one `autoprune prune` run per switch,
 * same config, same seed, same baseline; each row turns one mechanism off
 * (the first row has all of them, `paper` none: the paper's agent with the
 * original halving relaxation; `calibrated` and `reward-250` undo, one at a
 * time, what the BatchNorm compare configs change). Runs one after another;
 * every row is appended to the JSON file as soon as it is done, so a cut run
 * keeps its rows, and a variant run again gets a second row rather than
 * replacing the first.
 *
 *   npx tsx bench/agent-ablation.ts --config configs/compare-lenet5-mnist.json --out bench/results/ablation-lenet5-mnist-b1-seed0.json
 *   npx tsx bench/agent-ablation.ts ... --only paper,no-reconstruction   # a subset of the rows, in this order
 *   npx tsx bench/agent-ablation.ts ... --only all --existing <prune-run-id>   # a row from a finished prune run with the same config and seed (e.g. a compare's agent)
 *   npx tsx bench/agent-ablation.ts --table bench/results/ablation-lenet5-mnist-b1-seed0.json   # print the table again
 *   npx tsx bench/agent-ablation.ts ... --seed 1 --out bench/results/ablation-lenet5-mnist-b1-seed1.json   # the config at another seed
 *   npx tsx bench/agent-ablation.ts --config configs/compare-vgg-small-fashion-mnist.json --only calibrated,reward-250 --out bench/results/ablation-vgg-small-fashion-mnist-b1-seed0.json
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { openRun } from '../src/run/results.js';

const PAPER = [
  'budget.calibrate=false',
  'budget.byCost=false',
  'recovery.reconstruction=false',
  'recovery.adaptiveBatchNorm=false',
  'observation.criteria=false',
  'countSearch="halve"',
  'tighten=false',
];
const VARIANTS: { name: string; what: string; set: string[] }[] = [
  { name: 'all', what: 'every mechanism on (the defaults)', set: [] },
  { name: 'no-calibration', what: "reward tolerance = b (the paper's), not calibrated by measured recovery", set: ['budget.calibrate=false'] },
  { name: 'no-cost-shares', what: 'every group may use all of b (no budget by MACs)', set: ['budget.byCost=false'] },
  { name: 'no-reconstruction', what: 'no least-squares refit of consumers', set: ['recovery.reconstruction=false'] },
  { name: 'no-adaptive-bn', what: 'no BatchNorm re-estimation', set: ['recovery.adaptiveBatchNorm=false'] },
  { name: 'no-criteria', what: 'observation without criteria scores', set: ['observation.criteria=false'] },
  { name: 'no-tighten', what: "no search below the agent's count", set: ['tighten=false'] },
  { name: 'halving', what: 'original relaxation (half of the remaining filters per step), no tightening', set: ['countSearch="halve"', 'tighten=false'] },
  { name: 'paper', what: 'all of the above off', set: PAPER },
  { name: 'l1-ranking', what: 'the agent itself: the same loop along the L1 ranking, from half of each group', set: ['policy="l1"'] },
  // For configs that turn calibration off or enlarge the reward subset (the BatchNorm compare configs): each setting back on its own.
  { name: 'calibrated', what: 'reward tolerance calibrated by measured recovery (the library default)', set: ['budget.calibrate=true'] },
  { name: 'reward-250', what: '250 reward images (one image = 0.4 points)', set: ['rewardSamples=250'] },
  // Additions, each on top of the config as given.
  {
    name: 'race',
    what: 'racing: every candidate on the first 256 reward images (rounded up to whole batches), the better half on the rest',
    set: ['agent.race.enabled=true'],
  },
  {
    name: 'race-audit',
    what: 'racing with its audit: the dropped candidates are scored on the rest too, to count the advantages a full score would flip',
    set: ['agent.race.enabled=true', 'agent.race.audit=true'],
  },
];

interface Row {
  name: string;
  what: string;
  set: string[];
  runId: string;
  kept: string;
  agentKept: string;
  converged: string;
  probes: number;
  flopsReduction: number;
  compression: number;
  validationDrop: number;
  testDrop: number;
  searchMinutes: number;
  minutes: number;
  /** Candidate images scored over every iteration, and (racing's audit) advantages a full score would have flipped, of how many. */
  imagesScored?: number;
  raceSignFlips?: { flipped: number; of: number };
}

const { values } = parseArgs({
  options: {
    config: { type: 'string' },
    seed: { type: 'string' },
    out: { type: 'string' },
    only: { type: 'string' },
    existing: { type: 'string' },
    table: { type: 'string' },
    'runs-dir': { type: 'string', default: 'runs' },
  },
});

function printTable(rows: Row[]): void {
  console.log(
    '| variant | what is off | kept per group (agent) | converged | fine-tuned probes | FLOPs reduction | compression | validation drop | test drop | search time | wall time | candidate images | advantages flipped by racing |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const flips = r.raceSignFlips === undefined ? '-' : `${r.raceSignFlips.flipped} of ${r.raceSignFlips.of}`;
    console.log(
      `| ${r.name} | ${r.what} | ${r.kept} (${r.agentKept}) | ${r.converged} | ${r.probes} | ${r.flopsReduction.toFixed(2)}x | ${r.compression.toFixed(2)}x | ${r.validationDrop.toFixed(2)} | ${r.testDrop.toFixed(2)} | ${r.searchMinutes.toFixed(1)} min | ${r.minutes.toFixed(1)} min | ${r.imagesScored || '-'} | ${flips} |`,
    );
  }
}

if (values.table !== undefined) {
  printTable((JSON.parse(readFileSync(values.table, 'utf8')) as { rows: Row[] }).rows);
} else {
  if (values.config === undefined || values.out === undefined) throw new Error('give --config and --out (or --table FILE)');
  const only = values.only?.split(',') ?? VARIANTS.map((v) => v.name);
  if (values.existing !== undefined && only.length !== 1) throw new Error('--existing takes the run of exactly one variant (--only NAME)');
  const rows: Row[] = existsSync(values.out) ? (JSON.parse(readFileSync(values.out, 'utf8')) as { rows: Row[] }).rows : [];
  for (const name of only) {
    const variant = VARIANTS.find((v) => v.name === name);
    if (variant === undefined) throw new Error(`unknown variant ${name}; choose from ${VARIANTS.map((v) => v.name).join(', ')}`);
    let runId = values.existing;
    if (runId === undefined) {
      const seed = values.seed === undefined ? [] : ['--seed', values.seed];
      const args = [
        'bin/autoprune.mjs',
        '--no-tui',
        '--runs-dir',
        values['runs-dir']!,
        'prune',
        '--config',
        values.config,
        ...seed,
        ...variant.set.flatMap((s) => ['--set', s]),
      ];
      console.error(`$ node ${args.join(' ')}`);
      const child = spawnSync('node', args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
      if (child.status !== 0) throw new Error(`prune failed (exit ${child.status})`);
      runId = child.stdout.trim();
    }
    const run = await openRun(values['runs-dir']!, runId, 'prune', 'are measured here');
    const { groups, report, summary } = run.record.result;
    if (groups === undefined || report === undefined || summary === undefined) throw new Error(`run ${runId} has not finished`);
    const result = { groups, report, summary };
    const iterations = groups.flatMap((g) => g.iterations);
    const audited = iterations.filter((i) => i.raceSignFlips !== undefined);
    const row: Row = {
      name: variant.name,
      what: variant.what,
      set: variant.set,
      runId,
      kept: result.groups.map((g) => `${g.kept.length}/${g.size}`).join(', '),
      agentKept: result.groups.map((g) => g.agentKept).join(', '),
      converged: `${result.groups.filter((g) => g.converged).length}/${result.groups.length}`,
      probes: result.groups.reduce((n, g) => n + g.probes.length, 0),
      flopsReduction: result.report.theoreticalSpeedup,
      compression: result.report.compressionRatio,
      validationDrop: result.report.validationDrop,
      testDrop: result.report.testDrop,
      searchMinutes: result.groups.reduce((s, g) => s + g.iterations.reduce((t, i) => t + i.seconds, 0), 0) / 60,
      minutes: result.summary.seconds / 60,
      imagesScored: iterations.reduce((n, i) => n + (i.imagesScored ?? 0), 0),
      ...(audited.length > 0 && {
        raceSignFlips: {
          flipped: audited.reduce((n, i) => n + i.raceSignFlips!, 0),
          of: audited.length * (run.record.config.agent as { samplesPerIteration: number }).samplesPerIteration,
        },
      }),
    };
    rows.push(row); // a variant run again gets a second row: every run is reported
    writeFileSync(values.out, `${JSON.stringify({ config: values.config, measured: new Date().toISOString(), rows }, null, 2)}\n`);
  }
  printTable(rows);
}
