/**
 * A try-and-learn run in a run folder: created after every check passes,
 * resumable after an interruption (Ctrl-C, SIGTERM, SIGHUP) or a crash, its
 * events passed to the caller (the CLI's line log or dashboard).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { latencyTableFor } from '../latency/for-run.js';
import type * as tf from '@tensorflow/tfjs';
import { lastValueFrom, tap } from 'rxjs';
import type { BackendChoice } from '../backend/backend.js';
import type { Dataset } from '../data/datasets.js';
import { withAbsolutePaths } from '../data/load.js';
import { loadModel, weightsDtypeOf } from '../models/io.js';
import { checkResumable, modelShortName, onStopNow, recordFailure, Run, type RunRecord, type StopSignals } from './records.js';
import { openRun } from './results.js';
import { evaluateAccuracy, stopRequested } from '../train/train.js';
import { InterruptedError, RunError } from '../errors.js';
import { boundAdvice } from '../certify/check.js';
import { holdoutSplits } from '../certify/holdout.js';
import { atDataSize, loadModelData, trainedModelAndData } from './baseline-source.js';
import { checkHoldout, holdoutOf, type PruneConfig, parsePruneConfig } from './config.js';
import { formatDuration, plural } from '../text.js';
import type { RunLog } from './log.js';
import { folderStore } from './store.js';
import { estimateAgentRun, fitToBudget, formatEstimate, recordedEstimate, timeSteps } from './estimate.js';
import { checkPrunable } from '../prune/graph.js';
import { type PruneResult, type RunEvent, tryAndLearn } from './try-and-learn.js';
import { checkFinetuneBatches } from '../train/heap-fit.js';

export interface RunContext extends StopSignals {
  runsDir: string;
  backend: BackendChoice;
  log: RunLog;
  /** Receives every event of the run (the line log, or the dashboard). */
  onEvent: (event: RunEvent) => void;
}

/**
 * Runs the loop for an open run on its data and baseline (which it disposes);
 * marks the run interrupted when the caller stops it (`signal`: after the
 * current batch or candidate, then an InterruptedError; `stopNow`: at once;
 * either way resumable from its finished groups) or failed on error.
 */
async function execute(
  run: Run<PruneResult>,
  config: PruneConfig,
  data: Dataset,
  baseline: tf.LayersModel,
  { backend, log, onEvent, signal, stopNow }: RunContext,
): Promise<Run<PruneResult>> {
  // The record stays consistent at any moment (finished groups, their checkpoints): a stop now leaves it resumable; resume redoes the group in progress.
  const removeListener = onStopNow(run, stopNow);
  try {
    // The latency table the decisions use is kept in the run folder: a resumed run decides with the same one.
    const latency =
      config.phi === 'latency'
        ? (await latencyTableFor(baseline, config.latency, { keepAt: join(run.dir, 'latency.json'), log: (line) => log.line(line) })).table
        : undefined;
    await lastValueFrom(
      tryAndLearn({
        baseline,
        data,
        config,
        store: folderStore(run),
        backend: backend.name,
        shouldStop: stopRequested(signal),
        baselinePath: run.record.result.baseline,
        latency,
      }).pipe(tap(onEvent)),
      { defaultValue: undefined },
    );
    return run;
  } catch (err) {
    if (err instanceof InterruptedError) {
      await run.finish('interrupted', err.message);
      log.line(`run ${run.id} interrupted; continue it with: autoprune resume ${run.id}`);
    } else await recordFailure(run, err);
    throw err;
  } finally {
    removeListener();
    baseline.dispose();
  }
}

export async function pruneRun(requested: PruneConfig, context: RunContext): Promise<Run<PruneResult>> {
  const config = withAbsolutePaths(requested);
  const { data, model, source, splitSeed, scaling, validationSize } = await trainedModelAndData(
    { ...config, runsDir: context.runsDir, checkData: (loaded) => checkHoldout(config, loaded.validation.count) },
    context.backend,
    context.log,
  );
  // The split as loaded (the baseline's seed and size), so that a resumed run loads the same one.
  const resolved = { ...config, splitSeed, scaling, validationSize, weightsDtype: config.weightsDtype ?? weightsDtypeOf(source) };
  try {
    checkPrunable(model, source);
    const advice = await holdoutAdvice(model, data, resolved);
    if (advice !== undefined) context.log.line(advice);
  } catch (err) {
    model.dispose();
    throw err;
  }
  return pruneLoaded(resolved, data, model, source, context);
}

/**
 * A new prune run on data and a baseline (from `source`) already loaded; the
 * baseline is disposed. `config.splitSeed` and `config.scaling` name the
 * data's split and scaling, for resume. `created` learns the run before it
 * starts (a compare records where its agent's run is, to resume it);
 * `searchOnly` ends the run after its last group (PruneResult.searchOnly).
 */
export async function pruneLoaded(
  requested: PruneConfig,
  data: Dataset,
  model: tf.LayersModel,
  source: string,
  context: RunContext,
  { created = async () => {}, searchOnly = false }: { created?: (run: Run<PruneResult>) => Promise<void>; searchOnly?: boolean } = {},
): Promise<Run<PruneResult>> {
  let run: Run<PruneResult> | undefined;
  let config = requested;
  try {
    checkPrunable(model, source);
    checkHoldout(config, data.validation.count);
    checkFinetuneBatches(model, config);
    // What the run will take, from a few of its steps timed here: said before it starts, kept to set beside what it took; within timeBudget, if there is one.
    const costs = await timeSteps(model, data, requested);
    const estimateFor = (c: PruneConfig) => estimateAgentRun(model, data, c, costs, { searchOnly });
    const fitted =
      requested.timeBudget === undefined
        ? { config: requested, estimate: estimateFor(requested), changes: [] }
        : fitToBudget(estimateFor, requested, requested.timeBudget, data.train.count);
    config = fitted.config;
    if (fitted.changes.length > 0) context.log.line(`timeBudget ${formatDuration(requested.timeBudget!)}: ${fitted.changes.join(', ')}`);
    const { estimate } = fitted;
    context.log.line(formatEstimate(estimate));
    if (context.signal?.aborted) throw new InterruptedError('stopped before the run started');
    run = await Run.create<PruneResult>(context.runsDir, {
      command: 'prune',
      label: `${modelShortName(config.model, data.name)}-${data.name}`,
      config,
      backend: context.backend.name,
      result: {
        baseline: source,
        ...(data.classNames && { classNames: data.classNames }),
        ...(searchOnly && { searchOnly }),
        estimate: recordedEstimate(estimate),
      },
    });
    context.log.line(`run: ${run.dir}`);
    await created(run);
  } catch (err) {
    model.dispose();
    if (run !== undefined) await recordFailure(run, err);
    throw err;
  }
  return execute(run, config, data, model, context);
}

/** The one-line warning of boundAdvice for a run of `config` on `data`, when its splits are too small for a useful bound. */
export async function holdoutAdvice(baseline: tf.LayersModel, data: Dataset, config: PruneConfig): Promise<string | undefined> {
  const { selection, certification } = holdoutSplits(data.validation, holdoutOf(config), data.inputShape);
  const errorRate = 1 - (await evaluateAccuracy(baseline, selection, data.inputShape));
  return boundAdvice(certification.count, errorRate, { tolerance: config.tolerance, confidence: config.confidence });
}

/** When choices began to aim at certification on today's splits (the selection split holding the reward subset, half of the images certifying). */
export const CHOICE_DATA_SINCE = '2026-12-06T23:55:00Z';

/**
 * Runs recorded before certified tolerances (no `confidence` in their
 * config) accepted on point estimates on a split that is now two, and runs
 * recorded before CHOICE_DATA_SINCE chose on other splits than today's:
 * resumed, they would mix procedures (and certify on images their choices
 * read), so they are refused.
 */
export function checkCertifiedVersion(record: Pick<RunRecord, 'id' | 'config' | 'createdAt'>): void {
  if (record.config.confidence === undefined)
    throw new RunError(`run "${record.id}" was recorded before certified tolerances (its choices used point estimates) and cannot be resumed; start it again`);
  if (record.createdAt < CHOICE_DATA_SINCE)
    throw new RunError(
      `run "${record.id}" was recorded before the validation split was divided as it is now (${CHOICE_DATA_SINCE}): its certification images would differ from those its choices left alone, so it cannot be resumed; start it again`,
    );
}

export async function resumeRun(runId: string, context: RunContext): Promise<Run<PruneResult>> {
  const run = await openRun(context.runsDir, runId, 'prune', 'can be resumed');
  checkResumable(run.record, context.backend.name);
  checkCertifiedVersion(run.record);
  const config = parsePruneConfig(run.record.config, `${run.dir}/run.json config`);
  const result = run.record.result;
  const baselinePath = recordedBaseline(runId, result.baseline);
  for (const group of result.groups ?? []) {
    if (!existsSync(group.checkpoint)) throw new RunError(`run "${runId}": the checkpoint of group ${group.groupId} (${group.checkpoint}) is missing`);
  }
  await run.takeOver(context.backend.name);
  context.log.line(`resuming ${run.dir} (${plural(result.groups?.length ?? 0, 'group')} finished)`);
  const { data, baseline } = await loadRecordedData(config, baselinePath, context.log).catch(async (err) => {
    await recordFailure(run, err);
    throw err;
  });
  return execute(run, config, data, baseline, context);
}

/** The baseline model a run recorded, which must still exist for the run to resume. */
export function recordedBaseline(runId: string, source: string | undefined): string {
  if (source === undefined || !existsSync(source)) throw new RunError(`run "${runId}": its baseline model ${source ?? '(none recorded)'} is missing`);
  return source;
}

/** A recorded run's baseline (from `source`) and data, split and scaled as the run recorded them. */
export async function loadRecordedData(config: PruneConfig, source: string, log: RunLog): Promise<{ data: Dataset; baseline: tf.LayersModel }> {
  let baseline = await loadModel(source);
  try {
    // Records from before splitSeed split by the run's seed.
    const data = await loadModelData(
      config,
      baseline,
      { validationSize: config.validationSize, seed: config.splitSeed ?? config.seed, scaling: config.scaling },
      log,
    );
    baseline = await atDataSize(baseline, data, source, log);
    return { data, baseline };
  } catch (err) {
    baseline.dispose();
    throw err;
  }
}
