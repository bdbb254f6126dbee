/**
 * The comparison (`autoprune compare`): every method from the same trained
 * baseline, with the same tolerance and the same fine-tuning per pruning
 * step, in one table. A method that fails is marked failed with its reason;
 * the others still run, and each finished row is recorded before the next
 * method starts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../data/datasets.js';
import { withAbsolutePaths } from '../data/load.js';
import { loadModel, saveModel, weightsDtypeOf, writeFileAtomic } from '../models/io.js';
import { checkPrunable } from '../prune/graph.js';
import { summariseModel } from '../run/report.js';
import { type AgentView, finishMethod, finishSettings, type MethodInputs, methodOf, methodSettings } from '../run/methods.js';
import { checkWritable, writeReport } from './report-html.js';
import { runInJobs } from './jobs.js';
import { redisConnection, runInQueue } from './queue.js';
import { checkHoldout, finalFinetuneOf, holdoutOf, type PruneConfig, parsePruneConfig } from '../run/config.js';
import { compareTotal, estimateAgentRun, estimateMethodRow, timeSteps } from '../run/estimate.js';
import { criterionOf } from '../heuristics/criteria.js';
import { Certifier } from '../certify/check.js';
import { certifiedCheck, finalCertified } from '../certify/certification.js';
import { holdoutSplits } from '../certify/holdout.js';
import { latencyTableFor } from '../latency/for-run.js';
import { timeSideBySide } from '../latency/side-by-side.js';
import { openTarget } from '../latency/target.js';
import { checkResumable, effectiveStatus, guardRun, listRuns, modelShortName, peakResidentBytes, Run, recordFailure } from '../run/records.js';
import { trainedModelAndData } from '../run/baseline-source.js';
import { checkCertifiedVersion, holdoutAdvice, loadRecordedData, type RunContext, recordedBaseline } from '../run/prune-run.js';
import {
  type CompareResults,
  type CompareEstimate,
  type CompareRunResult,
  fromReport,
  type Method,
  METHODS,
  mergeResults,
  type ResultRow,
  speedupCell,
  statusText,
  toCsv,
  verdict,
} from '../run/compare-results.js';
import { formatDuration, formatTable, percent, plural } from '../text.js';
import { openRun } from '../run/results.js';
import { ConfigError, InterruptedError, NotApplicableError, RunError } from '../errors.js';
import { addPhases, PhaseClock, withPhaseClock } from '../phases.js';
import { checkFinetuneBatches } from '../train/heap-fit.js';

export function formatResults(rows: ResultRow[], base: { validation: number; test: number }): string {
  const times = (x?: number) => (x === undefined ? '-' : `${x.toFixed(2)}x`);
  const table = formatTable(
    ['method', 'FLOPs reduction', 'compression', 'measured speedup (batch 1)', 'validation', 'certified drop (bound)', 'test', 'time', 'ranking'],
    [
      ['unpruned', '1.00x', '1.00x', '1.00x', percent(base.validation), '-', percent(base.test), '-', ''],
      ...rows.map((r) =>
        r.status !== 'done'
          ? [r.method, `${statusText(r)} (below)`, '', '', '', '', '', `${r.seconds.toFixed(0)} s`, '']
          : [
              r.method,
              times(r.theoreticalSpeedup),
              times(r.compressionRatio),
              speedupCell(r, 1),
              percent(r.validationAccuracy),
              certifiedCell(r),
              percent(r.testAccuracy),
              `${r.seconds.toFixed(0)} s`,
              r.ranking ?? '',
            ],
      ),
    ],
  );
  const failures = rows.filter((r) => r.status !== 'done').map((r) => `${r.method} ${statusText(r)}: ${r.error}`);
  const fallbacks = rows.filter((r) => r.uncertified !== undefined).map((r) => `${r.method}: ${r.uncertified!.reason}`);
  return [table, ...failures, ...fallbacks].join('\n');
}

/** "0.41 (<= 0.83)": the certified model's drop and upper bound on the certification split; "*" marks a fallback from an uncertified final model. */
function certifiedCell(r: ResultRow): string {
  if (r.certification === undefined) return '-';
  const check = certifiedCheck(r.certification);
  return `${check.drop.toFixed(2)} (<= ${check.upperBound.toFixed(2)})${finalCertified(r.certification) ? '' : ' *'}`;
}

export interface CompareOptions {
  /** The rl method's config; its tolerance, seed and fine-tuning apply to every method. */
  config: PruneConfig;
  methods: Method[];
  runsDir: string;
  /** Cap on the bisection probes of each tolerance search (a criterion's per ranking, sensitivity's threshold); they stop earlier at their resolution. */
  probes: number;
  /** Time a few steps and print (and keep) what the compare will take before it starts (default true). */
  estimate?: boolean;
  /** Where report.html goes (default: the run folder). */
  reportPath?: string;
  /**
   * Methods run at once, each in its own process with cores / jobs wasm
   * threads; 1 runs them one after another in this process. Every method's
   * result is the same either way.
   */
  jobs: number;
  /** A BullMQ queue's Redis (redis://HOST:PORT): each method a job for `autoprune worker`s, on any machine that sees this run's folder at the same path; instead of `jobs`. */
  queue?: string;
  /** Shows the agent's run (the dashboard, or the line log); closed when the agent is done. */
  presentAgent: () => Promise<AgentView>;
}

export async function compare(requested: CompareOptions, context: RunContext): Promise<Run<CompareRunResult>> {
  const { log, backend } = context;
  const reportPath = requested.reportPath;
  if (reportPath !== undefined) checkWritable(reportPath);
  if (requested.queue !== undefined) redisConnection(requested.queue); // a bad address is said before anything runs
  // Scaling the agent's run to a budget would change its fine-tunes and not the criteria's: every method must get the same.
  if (requested.config.timeBudget !== undefined)
    throw new ConfigError(
      'timeBudget applies to prune runs; a compare gives every method the same fine-tunes, so set them (finetune.imagesPerEpoch, agent.maxIterations) from its estimate instead',
    );
  const requestedConfig = withAbsolutePaths(requested.config);
  const {
    data,
    model: baseline,
    source,
    splitSeed,
    scaling,
    validationSize,
  } = await trainedModelAndData(
    {
      ...requestedConfig,
      runsDir: requested.runsDir,
      // Before a baseline is trained for it: the validation split must hold the reward subset, a selection and a certification split.
      checkData: (loaded) => checkHoldout(requestedConfig, loaded.validation.count),
    },
    backend,
    log,
  );
  // Every method, and a resumed agent run, uses the baseline's split and scaling.
  const options = {
    ...requested,
    config: { ...requestedConfig, splitSeed, scaling, validationSize, weightsDtype: requestedConfig.weightsDtype ?? weightsDtypeOf(source) },
  };
  const { config, methods } = options;
  checkPrunable(baseline, source);
  try {
    checkFinetuneBatches(baseline, config);
  } catch (err) {
    baseline.dispose();
    throw err;
  }
  const advice = await holdoutAdvice(baseline, data, config);
  if (advice !== undefined) log.line(advice);
  const estimate = options.estimate === false ? undefined : await estimateCompareRun(baseline, data, options);
  if (estimate !== undefined) log.line(estimate.text);
  if (context.signal?.aborted) throw new InterruptedError('stopped before the run started');
  const run = await Run.create<CompareRunResult>(options.runsDir, {
    command: 'compare',
    label: `${modelShortName(config.model, data.name)}-${data.name}`,
    config: { ...config, methods, jobs: options.jobs, probes: options.probes, ...(options.queue !== undefined && { queue: options.queue }) },
    backend: backend.name,
    result: { baseline: source, rows: [], ...(estimate && { estimate: estimate.estimate }) },
  });
  log.line(`run: ${run.dir}`);
  return runMethods(run, options, { data, baseline, source }, context, []);
}

/**
 * What the compare will take, row by row and in all, from steps timed on the
 * baseline (estimate.ts).
 */
async function estimateCompareRun(
  baseline: tf.LayersModel,
  data: Dataset,
  { config, methods, probes, jobs }: CompareOptions,
): Promise<{ text: string; estimate: CompareEstimate }> {
  const costs = await timeSteps(baseline, data, config);
  const rows = methods.map((method) => {
    if (method === 'rl') return estimateAgentRun(baseline, data, config, costs);
    const kind = method === 'sensitivity' ? 'sensitivity' : criterionOf(method).needsData ? 'data criterion' : 'criterion';
    return estimateMethodRow(kind, baseline, data, config, costs, probes);
  });
  const range = ([low, high]: [number, number]) => `${formatDuration(low)} to ${formatDuration(high)}`;
  const total = compareTotal(rows, jobs);
  return {
    text: `estimated time ${range(total)}${jobs > 1 ? ` with ${jobs} jobs` : ''} (${methods.map((m, i) => `${m} ${range(rows[i].total)}`).join(', ')}); from steps timed in ${formatDuration(costs.seconds)}, a fine-tuning batch ${costs.trainBatch.toFixed(2)} s`,
    estimate: { total, rows: Object.fromEntries(methods.map((m, i) => [m, rows[i].total])) },
  };
}

/**
 * Continues an interrupted (or crashed, or failed) compare run: the methods
 * that finished keep their rows, the agent's prune run resumes from its last
 * finished group, and the other methods run again from the start, with the
 * run's recorded settings (methods, jobs, probes, config, baseline, split).
 */
export async function resumeCompare(
  runId: string,
  { presentAgent, reportPath, jobs: requestedJobs }: Pick<CompareOptions, 'presentAgent' | 'reportPath'> & { jobs?: number },
  context: RunContext,
): Promise<Run<CompareRunResult>> {
  const { log } = context;
  if (reportPath !== undefined) checkWritable(reportPath);
  const run = await openRun(context.runsDir, runId, 'compare', 'can be resumed');
  checkResumable(run.record, context.backend.name);
  checkCertifiedVersion(run.record);
  const { methods, jobs: recordedJobs, probes, queue, ...recorded } = run.record.config;
  const file = `${run.dir}/run.json`;
  if (!Array.isArray(methods) || methods.length === 0 || methods.some((m) => !(METHODS as readonly unknown[]).includes(m)))
    throw new RunError(`${file}: config.methods is not a list of methods (${METHODS.join(', ')})`);
  // Records from before resume existed have neither: the probes decide how far the criteria search, so they must be known.
  if (!Number.isInteger(probes) || (probes as number) < 1)
    throw new RunError(`${file}: config.probes is not recorded (a compare from before resume existed); start the compare again`);
  const config = parsePruneConfig(recorded, `${file} config`);
  const source = recordedBaseline(runId, run.record.result.baseline);
  // A job of the earlier attempt may still be stopping (a --jobs compare's parent exits at once; its children finish their step).
  const jobsDir = join(run.dir, 'jobs');
  const busy = listRuns(jobsDir).records.find((job) => effectiveStatus(job) === 'running');
  if (busy !== undefined)
    throw new RunError(`run "${runId}": its job ${busy.id} is still running (process ${busy.pid}); wait for it to stop, or kill ${busy.pid}, then resume`);
  // A method that cannot prune this model is not run again; a failed one is.
  const finished = (run.record.result.rows ?? []).filter((row) => row.status !== 'failed');
  const pending = pendingMethods(methods as Method[], finished);
  // The job count does not change any result, so resume may use another.
  const jobs = requestedJobs ?? (recordedJobs as number | undefined) ?? 1;
  await run.takeOver(context.backend.name);
  log.line(
    `resuming ${run.dir}: ${finished.length > 0 ? `${finished.map((r) => r.method).join(', ')} finished; ` : ''}${pending.length > 0 ? `to run: ${pending.join(', ')}` : 'nothing left to run'}`,
  );
  const { data, baseline } = await loadRecordedData(config, source, log).catch(async (err) => {
    await recordFailure(run, err);
    throw err;
  });
  const options: CompareOptions = {
    config,
    methods: methods as Method[],
    jobs,
    probes: probes as number,
    ...(typeof queue === 'string' && { queue }),
    runsDir: context.runsDir,
    reportPath,
    presentAgent,
  };
  return runMethods(run, options, { data, baseline, source }, context, finished);
}

const pendingMethods = (methods: Method[], finished: ResultRow[]) => methods.filter((m) => !finished.some((row) => row.method === m));

/**
 * Runs the methods of `options` that have no row in `finished` (which keeps
 * its rows) and writes results.json and the report. Disposes `baseline`.
 */
async function runMethods(
  run: Run<CompareRunResult>,
  requested: CompareOptions,
  { data, baseline, source }: { data: Dataset; baseline: tf.LayersModel; source: string },
  context: RunContext,
  finished: ResultRow[],
): Promise<Run<CompareRunResult>> {
  const { log, backend } = context;
  const { methods, reportPath } = requested;
  const pending = pendingMethods(methods, finished);
  // From here on, a stop or an error is recorded in the run (guardRun).
  try {
    return await guardRun(run, context, async () => {
      // With phi latency, one latency table serves every method: the agent (here or as a job) reads it from the run folder, the criteria rank by it.
      const latencyPath = join(run.dir, 'latency.json');
      const latency =
        requested.config.phi === 'latency'
          ? (await latencyTableFor(baseline, requested.config.latency, { keepAt: latencyPath, log: (line) => log.line(line) })).table
          : undefined;
      const options: CompareOptions =
        latency === undefined ? requested : { ...requested, config: { ...requested.config, latency: { ...requested.config.latency, table: latencyPath } } };
      const { config } = options;
      // Every method chooses on the selection split and is certified on the certification split, the same images for all.
      const holdout = holdoutSplits(data.validation, holdoutOf(config), data.inputShape);
      const selectionData: Dataset = { ...data, validation: holdout.selection };
      const certifier = await Certifier.create(baseline, holdout.certification, data.inputShape, {
        tolerance: config.tolerance,
        confidence: config.confidence,
      });
      // The baseline's accuracy, cost and latency, taken once for every method's report.
      const unpruned = await summariseModel(baseline, selectionData, { path: source, latency: false });
      const results: CompareResults = {
        baseline: source,
        model: config.model,
        dataset: data.name,
        ...(data.classNames && { classNames: data.classNames }),
        tolerance: config.tolerance,
        seed: config.seed,
        backend: backend.name,
        unpruned: {
          validationAccuracy: unpruned.validationAccuracy,
          certificationAccuracy: certifier.baseAccuracy,
          testAccuracy: unpruned.testAccuracy,
          macs: unpruned.macs,
          params: unpruned.params,
        },
        holdout: { selection: holdout.selection.count, certification: holdout.certification.count, confidence: config.confidence },
        finetunes: { finetune: config.finetune, finalFinetune: finalFinetuneOf(config) },
        rows: [...finished],
        ...(run.record.result.estimate && { estimate: run.record.result.estimate }),
      };
      // Rows in the order the methods were named, whatever order they finish in.
      const record = async (row: ResultRow) => {
        results.rows.push(row);
        results.rows.sort((a, b) => methods.indexOf(a.method) - methods.indexOf(b.method));
        await run.update((r) => (r.result.rows = results.rows));
        writeFileAtomic(join(run.dir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
      };
      /** One method in this process; a failure becomes a failed row. */
      const runMethod = async (method: Method): Promise<ResultRow> => {
        log.line(`== ${method}`);
        const started = performance.now();
        try {
          const inputs: MethodInputs = {
            settings: methodSettings(config, options.probes),
            selectionData,
            baseline,
            unpruned,
            certifier,
            latency,
            log,
            signal: context.signal,
          };
          const pruning = methodOf(method, () => ({
            config,
            data,
            source,
            context,
            present: options.presentAgent,
            earlierRun: run.record.result.agentRun,
            created: (agentRun) => run.update((r) => (r.result.agentRun = agentRun.dir)),
          }));
          log.line(`  ${pruning.plan(inputs)}`);
          const searchClock = new PhaseClock();
          const search = await withPhaseClock(searchClock, () => pruning.search(inputs));
          const searchPhases = search.phases ?? searchClock.split();
          const searched = performance.now();
          // Started after the search: its wall time (and so its `other`) is the finish's alone.
          const finishClock = new PhaseClock();
          const { report, modelPath, layers, certification, uncertified } = await withPhaseClock(finishClock, () =>
            finishMethod(search, inputs, {
              ...finishSettings(config),
              report: { before: unpruned },
              save: (m, which) => saveModel(m, join(run.dir, 'models', which === 'certified' ? method : `${method}-uncertified`), config.weightsDtype),
            }),
          );
          const seconds = (search.seconds ?? (searched - started) / 1000) + (performance.now() - searched) / 1000;
          return fromReport(method, report, seconds, {
            ...search.details,
            modelPath,
            layers,
            certification,
            ...(uncertified && { uncertified }),
            phases: addPhases(searchPhases, finishClock.split()),
            peakMemory: peakResidentBytes(),
          });
        } catch (err) {
          if (err instanceof InterruptedError) throw err; // stopped: a method cut short is not a result
          const status = err instanceof NotApplicableError ? 'inapplicable' : 'failed';
          const row: ResultRow = { method, status, error: (err as Error).message, seconds: (performance.now() - started) / 1000 };
          log.line(`${method} ${statusText(row)}: ${row.error}`);
          return row;
        }
      };
      try {
        const jobs = { ...options, methods: pending, source, runDir: run.dir, backend: backend.name, log, stops: context };
        if (options.queue !== undefined) await runInQueue(options.queue, jobs, record);
        else if (options.jobs > 1) await runInJobs(jobs, record);
        else
          for (const method of pending) {
            await record(await runMethod(method));
            if (context.signal?.aborted) throw new InterruptedError(`stopped after ${method}`);
          }
      } catch (err) {
        if (err instanceof InterruptedError)
          log.line(`compare interrupted; the finished methods' rows are in ${join(run.dir, 'results.json')}; continue it with: autoprune resume ${run.id}`);
        throw err;
      }
      await timeRows(results, baseline, config, log);
      writeFileAtomic(join(run.dir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
      writeFileAtomic(join(run.dir, 'results.csv'), toCsv(results.rows));
      log.line(formatResults(results.rows, { validation: results.unpruned.validationAccuracy, test: results.unpruned.testAccuracy }));
      for (const line of verdict(results.rows) ?? []) log.line(line);
      const html = await writeReport(results, reportPath ?? join(run.dir, 'report.html'));
      log.line(`wrote ${join(run.dir, 'results.json')}, results.csv and ${html}`);
      const failed = results.rows.filter((r) => r.status === 'failed').map((r) => r.method);
      if (failed.length > 0)
        log.line(`${failed.join(', ')} failed; to run ${failed.length > 1 ? 'them' : 'it'} again (the other rows are kept): autoprune resume ${run.id}`);
      await run.finish('done');
      return run;
    });
  } finally {
    baseline.dispose();
  }
}

/**
 * Every finished row's model timed with the unpruned one, side by side, on
 * the compare's target at batch 1 and at its batch: the measure the verdict
 * ranks (each method's own report timed it alone, beside whatever ran then).
 */
async function timeRows(results: CompareResults, baseline: tf.LayersModel, config: PruneConfig, log: RunContext['log']): Promise<void> {
  const rows = results.rows.filter((r) => r.status === 'done' && r.modelPath !== undefined && existsSync(r.modelPath));
  if (rows.length === 0) return;
  const batches = [...new Set([1, config.latency.batch])];
  const target = await openTarget(config.latency.target);
  const models = await Promise.all(rows.map((r) => loadModel(r.modelPath!)));
  try {
    log.line(`timing ${plural(rows.length, 'model')} and the unpruned one side by side on ${target.description}, batch ${batches.join(' and ')}`);
    const timed = await timeSideBySide(baseline, models, target, batches);
    rows.forEach((row, i) => (row.latency = timed.models[i]));
    results.unpruned.latency = timed.unpruned;
  } finally {
    for (const m of models) m.dispose();
    await target.close();
  }
}

/** Redraws report.html from the results.json of one compare run, or of several merged (then `out` is needed); returns the path written. */
export async function redrawReport(runIds: string[], runsDir: string, out?: string): Promise<string> {
  if (runIds.length > 1 && out === undefined) throw new RunError('report: with several runs, say where the merged report goes');
  const parts = [];
  for (const runId of runIds) {
    const run = await openRun(runsDir, runId, 'compare', 'have a report');
    const resultsPath = join(run.dir, 'results.json');
    if (!existsSync(resultsPath)) throw new RunError(`run "${runId}" has no results.json yet (no method finished)`);
    parts.push({ runId, dir: run.dir, results: JSON.parse(readFileSync(resultsPath, 'utf8')) as CompareResults });
  }
  return writeReport(mergeResults(parts), out ?? join(parts[0].dir, 'report.html'));
}
