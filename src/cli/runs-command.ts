/** `autoprune runs`, `show <run-id>` and `resume <run-id>`: what has been run, how each run ended, and continuing one that did not finish. */
import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Command } from 'commander';
import { resumeCompare } from '../compare/compare.js';
import { resumeRun } from '../run/prune-run.js';
import { type Certification, certifiedCheck, describeCertification, finalCertified } from '../certify/certification.js';
import { methodLabel, mostFlopsRemoved, statusText } from '../run/compare-results.js';
import type { ModelTimes } from '../latency/side-by-side.js';
import { formatBytes, formatDuration, formatTable, percent, plural } from '../text.js';
import { addPhases, formatPhases } from '../phases.js';
import { effectiveStatus, hasFailedMethods, modelShortName, RECORD_FILE, Run, type UnreadableRun } from '../run/records.js';
import { baselineLabel } from '../run/baselines.js';
import { type ListedRunRecord, listCheckedRuns, listedRecord } from '../run/results.js';
import { integerIn } from './options.js';
import { globalOptions, runCompare, setUp } from './session.js';
import { RunError, UsageError } from '../errors.js';

type ListedRows = NonNullable<Extract<ListedRunRecord, { command: 'compare' }>['result']['rows']>;

/** One line of numbers that matter for the run's command. */
function headline(record: ListedRunRecord): string {
  switch (record.command) {
    case 'train':
      return record.result.testAccuracy === undefined ? '-' : `test accuracy ${percent(record.result.testAccuracy)}`;
    case 'compare':
      return compareHeadline(record.result.rows ?? []);
    case 'prune':
    case 'criterion': {
      const r = record.result.report;
      if (r !== undefined)
        return `FLOPs ${r.theoreticalSpeedup.toFixed(2)}x, params ${r.compressionRatio.toFixed(2)}x, ${certifiedText(record.result.certification)}test ${percent(r.pruned.testAccuracy)} (drop ${r.testDrop?.toFixed(2) ?? '-'})`;
      if (record.command !== 'prune') return '-';
      const groups = `${plural(record.result.groups?.length ?? 0, 'group')} finished`;
      // A compare's agent search: the compare's row holds its finished model.
      return record.result.searchOnly && record.status === 'done' ? `${groups}; the model is finished in its compare's row` : groups;
    }
  }
}

/** "certified drop 0.41 (<= 0.83), " for a run that certified its model ("fallback" when its final model did not). */
function certifiedText(c: Certification | undefined): string {
  if (c === undefined) return '';
  const check = certifiedCheck(c);
  return `certified drop ${check.drop.toFixed(2)} (<= ${check.upperBound.toFixed(2)})${finalCertified(c) ? '' : ` from a fallback (${check.label})`}, `;
}

/** "time 1.45x at batch 1, 1.60x at batch 256, ": the row's measured speedup, side by side with the unpruned model. */
function timeText(latency: ModelTimes | undefined): string {
  if (latency === undefined) return '';
  return `time ${latency.batches.map((b) => `${b.speedup.toFixed(2)}x at batch ${b.batch}`).join(', ')}, `;
}

function compareHeadline(rows: ListedRows): string {
  const count = (status: ListedRows[number]['status']) => rows.filter((r) => r.status === status).length;
  const counts = [`${count('failed')} failed`, `${count('inapplicable')} not applicable`].filter((text) => !text.startsWith('0 '));
  const best = mostFlopsRemoved(rows);
  if (best === undefined) return rows.length === 0 ? 'no method finished' : counts.join(', ');
  return `${plural(count('done'), 'method')} done${counts.map((text) => `, ${text}`).join('')}; most FLOPs removed: ${best.method} ${best.theoreticalSpeedup!.toFixed(2)}x`;
}

/** What to do next, for a run that did not finish (or a compare with a failed method). */
function nextStep(record: ListedRunRecord): string | undefined {
  const status = effectiveStatus(record);
  if (status === 'running' || (status === 'done' && !hasFailedMethods(record))) return undefined;
  if (record.command === 'prune' || record.command === 'compare') return `resume with: autoprune resume ${record.id}`;
  return `start it again: its ${record.command} command cannot resume`;
}

/**
 * The run list; a folder whose record cannot be read is listed as unreadable,
 * with why. Wider than `width` columns, the model and data set columns go
 * (the run id names both), then results are shortened with "…".
 */
export function formatRuns({ records, unreadable }: { records: ListedRunRecord[]; unreadable: UnreadableRun[] }, width = Infinity): string {
  if (records.length === 0 && unreadable.length === 0) return 'no runs yet';
  const rows = records.map((r) => {
    const { model } = r.config;
    const dataset = dataLabel(r.config);
    return [r.id, r.command, model === undefined ? '-' : modelShortName(model, dataset ?? ''), dataset ?? '-', effectiveStatus(r), headline(r)];
  });
  rows.push(...unreadable.map((u) => [u.id, '-', '-', '-', 'unreadable', u.reason]));
  const full = formatTable(['run', 'command', 'model', 'data set', 'status', 'result'], rows);
  if (widest(full) <= width) return full;
  const narrow = rows.map(([id, command, , , status, result]) => [id, command, status, result]);
  const fixed = widest(
    formatTable(
      ['run', 'command', 'status', ''],
      narrow.map((r) => [...r.slice(0, 3), '']),
    ),
  );
  const room = Math.max(10, width - fixed);
  return formatTable(
    ['run', 'command', 'status', 'result'],
    narrow.map((r) => [...r.slice(0, 3), r[3].length > room ? `${r[3].slice(0, room - 1)}…` : r[3]]),
  );
}

const widest = (text: string) => Math.max(...text.split('\n').map((line) => line.length));

/** The data a run used: a folder's name, or the data set's (the config also carries the default data set name when a folder was given). */
const dataLabel = (config: ListedRunRecord['config']) => (config.data !== undefined ? basename(config.data) : config.dataset);

/** One run's summary; `dir` is its folder (where its files are named from). */
export function formatShow(record: ListedRunRecord, dir: string): string {
  const { config } = record;
  const given = config.model === undefined ? undefined : String(config.model);
  const modelText = given === undefined ? '-' : baselineLabel(given, record.command === 'compare' ? String(record.result.baseline ?? given) : given);
  const lines = [
    `run ${record.id}`,
    `command ${record.command}, status ${effectiveStatus(record)}${record.error ? ` (${record.error})` : ''}`,
    `model ${modelText}, ${config.data !== undefined ? `data ${config.data}` : `data set ${config.dataset ?? '-'}`}, seed ${config.seed ?? '-'}${config.tolerance !== undefined ? `, tolerance ${config.tolerance}` : ''}, backend ${record.backend}`,
    `started ${record.createdAt}, last written ${record.updatedAt}${record.peakMemory === undefined ? '' : `, peak memory ${formatBytes(record.peakMemory)}`}`,
    `result: ${headline(record)}`,
  ];
  const groups = record.command === 'prune' ? (record.result.groups ?? []) : [];
  const certification = record.command === 'prune' || record.command === 'criterion' ? record.result.certification : undefined;
  if (certification !== undefined) lines.push(describeCertification(certification));
  for (const g of groups)
    lines.push(
      `  group ${g.groupId} (${g.producers.join(', ')}): kept ${g.kept.length}/${g.size} (agent ${g.agentKept}${g.relaxed > 0 ? `, ${g.relaxed} count-search probes` : ''})${g.seconds === undefined ? '' : `, ${formatDuration(g.seconds)}`}`,
    );
  const time = timeByPhase(record);
  if (time !== undefined) lines.push(time);
  const methods = record.command === 'compare' ? (record.result.rows ?? []) : [];
  for (const r of methods) {
    lines.push(
      r.status !== 'done'
        ? `  ${r.method}: ${statusText(r)}: ${r.error}`
        : `  ${methodLabel(r)}: FLOPs ${r.theoreticalSpeedup!.toFixed(2)}x, params ${r.compressionRatio!.toFixed(2)}x, ${timeText(r.latency)}validation ${percent(r.validationAccuracy)}, ${certifiedText(r.certification)}test ${percent(r.testAccuracy)}`,
    );
    const estimated = record.command === 'compare' ? record.result.estimate?.rows[r.method] : undefined;
    const estimateText = estimated === undefined ? '' : ` (estimated ${formatDuration(estimated[0])} to ${formatDuration(estimated[1])})`;
    if (r.phases !== undefined) lines.push(`    ${formatDuration(r.seconds)}${estimateText}: ${formatPhases(r.phases)}`);
  }
  lines.push(...runFiles(record, dir));
  const next = nextStep(record);
  if (next !== undefined) lines.push(next);
  return lines.join('\n');
}

/** "time 1h02m by phase: fine-tunes ...": a prune run's (its groups' so far, if it has not finished) or a criterion run's. */
function timeByPhase(record: ListedRunRecord): string | undefined {
  if (record.command === 'criterion' && record.result.phases !== undefined) return `time by phase: ${formatPhases(record.result.phases)}`;
  if (record.command !== 'prune') return undefined;
  const { summary, groups = [] } = record.result;
  const phases = summary?.phases ?? (groups.every((g) => g.phases !== undefined) && groups.length > 0 ? addPhases(...groups.map((g) => g.phases)) : undefined);
  if (phases === undefined) return undefined;
  const estimate = record.result.estimate?.total;
  const estimated = estimate === undefined ? '' : ` (estimated ${formatDuration(estimate[0])} to ${formatDuration(estimate[1])})`;
  return `time ${formatDuration(summary?.seconds ?? groups.reduce((sum, g) => sum + (g.seconds ?? 0), 0))}${summary === undefined ? ` in ${plural(groups.length, 'finished group')}` : estimated}: ${formatPhases(phases)}`;
}

/** Where the run's outputs are: record, pruned model, checkpoints, report (those that exist). */
function runFiles(record: ListedRunRecord, dir: string): string[] {
  const files: [string, string][] = [['record', join(dir, 'run.json')]];
  const modelPath = record.command === 'compare' ? undefined : record.result.modelPath;
  if (modelPath !== undefined && existsSync(modelPath)) files.push([record.command === 'train' ? 'model' : 'pruned model', modelPath]);
  const checkpoints = join(dir, 'checkpoints');
  if (existsSync(checkpoints))
    files.push(['checkpoints', `${checkpoints}/ (${plural(readdirSync(checkpoints).filter((name) => /^group-\d+$/.test(name)).length, 'group')})`]);
  for (const name of ['report.html', 'results.json']) if (existsSync(join(dir, name))) files.push([name.replace(/\..*/, ''), join(dir, name)]);
  return files.map(([what, path]) => `${what}: ${path}`);
}

/** resume, runs and show. */
export function addRunsCommands(program: Command): void {
  program
    .command('resume')
    .description(
      "continue an interrupted prune run from its last finished group, or a compare run: finished methods are kept, the agent's run resumes, the rest run again",
    )
    .argument('<run-id>', 'the run folder name under --runs-dir')
    .option('--json', 'print every event as one JSON line on stdout (prune runs)')
    .option('--report <file>', 'where to write report.html (compare runs; default: the run folder)')
    .option('--jobs <n>', 'methods run at once (compare runs; default: as recorded); results are the same for any count', integerIn(1, 64))
    .action(async (runId: string, opts, command: Command) => {
      const global = globalOptions(command);
      const { command: kind } = (await Run.open(global.runsDir, runId)).record;
      if (kind !== 'prune' && kind !== 'compare') throw new RunError(`run "${runId}" is a ${kind} run; only prune and compare runs can be resumed`);
      const misplaced = kind === 'prune' ? ['report', 'jobs'].find((o) => opts[o] !== undefined) : opts.json === true ? 'json' : undefined;
      if (misplaced !== undefined) throw new UsageError(`resume: --${misplaced} does not apply to ${kind} runs`);
      if (kind === 'compare') {
        await runCompare(command, (options, context) => resumeCompare(runId, { ...options, reportPath: opts.report, jobs: opts.jobs }, context));
        return;
      }
      const { log, backend, present, stops } = await setUp(command);
      const view = await present(opts.json === true);
      const run = await resumeRun(runId, { runsDir: global.runsDir, backend, log, onEvent: view.onEvent, ...stops }).finally(view.close);
      if (opts.json !== true) process.stdout.write(`${run.id}\n`);
    });

  program
    .command('runs')
    .description('list the runs: command, model, status (a run whose process died shows as crashed), headline numbers')
    .option('--wide', 'every column in full, whatever the terminal width')
    .action((opts, command: Command) => {
      const global = globalOptions(command);
      // Fit the terminal (120 columns when not a terminal).
      const width = opts.wide === true ? Infinity : (process.stdout.columns ?? 120);
      process.stdout.write(`${formatRuns(listCheckedRuns(global.runsDir), width)}\n`);
    });

  program
    .command('show')
    .description("one run's summary, and how to resume it if it did not finish")
    .argument('<run-id>', 'the run folder name under --runs-dir')
    .action(async (runId: string, _opts, command: Command) => {
      const global = globalOptions(command);
      const run = await Run.open(global.runsDir, runId);
      process.stdout.write(`${formatShow(listedRecord(run.record, join(run.dir, RECORD_FILE)), run.dir)}\n`);
    });
}
