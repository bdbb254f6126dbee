/** A hand-made criterion's run in a run folder (`autoprune baseline`): prune to a ratio or to an accuracy tolerance, certify, save. */
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import type { Dataset, Split } from '../data/datasets.js';
import { modelCost } from '../prune/metrics.js';
import { criterionMethod, type FinishOptions, finishMethod } from './methods.js';
import type { BackendChoice } from '../backend/backend.js';
import { criterionOf } from '../heuristics/criteria.js';
import {
  checkCriterion,
  describeSearch,
  type HeuristicConfig,
  type HeuristicEvent,
  type ProbeRecord,
  DEFAULT_SEARCH,
  prunableSizes,
  pruneToRatio,
  type StepRecord,
  type ToleranceSearch,
} from '../heuristics/pipeline.js';
import { saveModel, weightsDtypeOf } from '../models/io.js';
import type { WeightsDtype } from '../models/quantize.js';
import { checkPrunable } from '../prune/graph.js';
import { finishPrunedModel } from './finish.js';
import type { BatchProgress, TrainConfig } from '../train/train.js';
import { formatReport } from './report.js';
import { type ModelSourceOptions, trainedModelAndData } from './baseline-source.js';
import { guardRun, modelShortName, Run, type StopSignals } from './records.js';
import { InterruptedError } from '../errors.js';
import type { CriterionResult } from './results.js';
import type { RunLog } from './log.js';
import { percent } from '../text.js';
import { Certifier } from '../certify/check.js';
import { describeCertification } from '../certify/certification.js';
import { holdoutSplits } from '../certify/holdout.js';
import { PhaseClock, withPhaseClock } from '../phases.js';
import { checkFinetuneBatches } from '../train/heap-fit.js';

export interface CriterionRunOptions extends ModelSourceOptions {
  heuristic: HeuristicConfig;
  /** How the pruned model's float32 weights are saved (default: as the baseline's are). */
  weightsDtype?: WeightsDtype;
  /** Exactly one of ratio and search. */
  ratio?: number;
  search?: ToleranceSearch;
  /** The final fine-tune after a tolerance search, as a compare's rows get it (finishPrunedModel); absent: none. */
  finalFinetune?: TrainConfig;
}

/** The plain line log of a criterion's steps and probes. */
function describeEvent(event: HeuristicEvent, log: RunLog): void {
  switch (event.type) {
    case 'step-start':
      log.line(`step ${event.step}/${event.steps}: pruning ${(100 * event.ratio).toFixed(1)}% of the prunable channels, then fine-tuning`);
      break;
    case 'finetune-progress': {
      const p = event.progress;
      log.status(`  fine-tune epoch ${p.epoch}/${p.epochs} batch ${p.batch}/${p.batches} loss ${p.loss.toFixed(4)} ${p.imagesPerSecond.toFixed(0)} img/s`);
      break;
    }
    case 'step-done':
      log.line(
        `step ${event.record.step}: kept ${Object.values(event.record.kept).join('/')} channels per group, validation ${percent(event.record.validationAccuracy)} (${event.record.seconds.toFixed(1)} s)`,
      );
      break;
    case 'probe-done': {
      const p = event.probe;
      log.line(
        `probe ${p.probe}: ratio ${(100 * p.ratio).toFixed(1)}% -> validation ${percent(p.validationAccuracy)}, drop ${p.drop.toFixed(2)} points, bound if certified ${p.upperBound.toFixed(2)}: ${p.withinTolerance ? 'within' : 'beyond'} tolerance`,
      );
      break;
    }
  }
}

const showFinalFinetune = (log: RunLog) => (p: BatchProgress) =>
  log.status(`  final fine-tune epoch ${p.epoch}/${p.epochs} batch ${p.batch}/${p.batches} loss ${p.loss.toFixed(4)} ${p.imagesPerSecond.toFixed(0)} img/s`);

export async function criterionRun(options: CriterionRunOptions, backend: BackendChoice, log: RunLog, stops: StopSignals = {}): Promise<Run> {
  const { data, model, source } = await trainedModelAndData(options, backend, log);
  checkPrunable(model, source);
  checkCriterion(model, options.heuristic, data);
  checkFinetuneBatches(model, { finetune: options.heuristic.finetune, finalFinetune: options.finalFinetune });
  // The splits a compare at this seed gives its criteria (they do not depend on the reward subset): the selection split takes the search's choices, the certification split the claim.
  const holdout = holdoutSplits(data.validation, { rewardSamples: 0, seed: options.heuristic.seed }, data.inputShape);
  const target = options.search
    ? `tolerance ${options.search.tolerance} points, ${describeSearch(options.search.start, prunableSizes(model))} (at most ${options.search.maxProbes} probes)`
    : `ratio ${options.ratio}`;
  const config = { ...options, baseline: source, dataSource: data.source };
  if (stops.signal?.aborted) throw new InterruptedError('stopped before the run started');
  const run = await Run.create<CriterionResult>(options.runsDir, {
    command: 'criterion',
    label: `${criterionOf(options.heuristic.criterion).name}-${modelShortName(options.model, data.name)}-${data.name}`,
    config,
    backend: backend.name,
    result: {},
  });
  log.line(
    `criterion ${criterionOf(options.heuristic.criterion).name}, ${options.heuristic.ranking} ranking, ${options.heuristic.schedule} schedule, ${target}`,
  );
  const steps: StepRecord[] = [];
  const probes: Omit<ProbeRecord, 'steps'>[] = [];
  const emit = (event: HeuristicEvent) => {
    describeEvent(event, log);
    if (event.type === 'step-done') steps.push(event.record);
    if (event.type === 'probe-done') {
      const { steps: _, ...probe } = event.probe;
      probes.push(probe);
    }
    if (event.type === 'step-done' || event.type === 'probe-done') void run.update((r) => (r.result = { ...r.result, steps, probes }));
  };
  try {
    const clock = new PhaseClock();
    return await guardRun(run, stops, () =>
      withPhaseClock(clock, async () => {
        log.line(`run: ${run.dir}`);
        const selectionData = { ...data, validation: holdout.selection };
        const weightsDtype = options.weightsDtype ?? weightsDtypeOf(source);
        const save = (m: tf.LayersModel, which: 'certified' | 'uncertified') =>
          saveModel(m, join(run.dir, which === 'certified' ? 'model' : 'uncertified'), weightsDtype);
        const { ratio, finalSteps, modelPath, certification, uncertified, report } = options.search
          ? await searchAndFinish(options, options.search, {
              model,
              data,
              selectionData,
              certification: holdout.certification,
              log,
              emit,
              signal: stops.signal,
              weightsDtype,
              source,
              save,
            })
          : await pruneAndFinish(options, options.ratio!, { model, selectionData, emit, signal: stops.signal, weightsDtype, source, save });
        await run.update((r) => {
          r.result = { ...r.result, ratio, finalSteps, report, modelPath, certification, uncertified, phases: clock.split() };
        });
        await run.finish('done');
        log.line(`pruned ${(100 * ratio).toFixed(1)}% of the prunable channels`);
        if (certification !== undefined) log.line(describeCertification(certification));
        for (const line of formatReport(report)) log.line(line);
        log.line(`saved ${modelPath}${uncertified === undefined ? '' : ` (the uncertified final model: ${uncertified.modelPath})`}`);
        return run;
      }),
    );
  } finally {
    model.dispose();
  }
}

/**
 * A tolerance search as the criterion's row of a compare runs it (criterionMethod,
 * with the one ranking asked for), ended by finishMethod: the same final
 * fine-tune, certification and report.
 */
async function searchAndFinish(
  options: CriterionRunOptions,
  search: ToleranceSearch,
  inputs: {
    model: tf.LayersModel;
    data: Dataset;
    selectionData: Dataset;
    certification: Split;
    log: RunLog;
    emit: (event: HeuristicEvent) => void;
    signal?: AbortSignal;
    weightsDtype: WeightsDtype;
    source: string;
    save: FinishOptions['save'];
  },
) {
  const { model, selectionData, log } = inputs;
  const confidence = search.confidence ?? DEFAULT_SEARCH.confidence!;
  const certifier = await Certifier.create(model, inputs.certification, inputs.data.inputShape, { tolerance: search.tolerance, confidence });
  const { criterion, ranking, ...heuristic } = options.heuristic;
  const settings = {
    tolerance: search.tolerance,
    confidence,
    seed: heuristic.seed,
    finetune: heuristic.finetune,
    probes: search.maxProbes,
    widthMultiple: heuristic.widthMultiple,
    searchStart: search.start,
  };
  const methodInputs = { settings, selectionData, baseline: model, unpruned: modelCost(model), certifier, log, signal: inputs.signal };
  const found = await criterionMethod(criterion, { rankings: [ranking], heuristic, maxRatio: search.maxRatio, onEvent: inputs.emit }).search(methodInputs);
  // The one ranking's search: its accepted ratio, and the steps of the probe that pruned to it.
  const { ratio, probes } = found.details.variants![0];
  const finalSteps = probes.find((p) => p.withinTolerance && p.ratio === ratio)?.steps ?? [];
  const finished = await finishMethod(found, methodInputs, {
    finalFinetune: options.finalFinetune ?? { ...heuristic.finetune, epochs: 0 },
    hooks: { onBatch: showFinalFinetune(log) },
    weightsDtype: inputs.weightsDtype,
    save: inputs.save,
    report: { originalPath: inputs.source },
  });
  return { ratio, finalSteps, ...finished };
}

/** A fixed ratio: pruned and fine-tuned by its schedule, nothing to certify (a ratio has no tolerance); reported and saved by the same end. */
async function pruneAndFinish(
  options: CriterionRunOptions,
  ratio: number,
  inputs: {
    model: tf.LayersModel;
    selectionData: Dataset;
    emit: (event: HeuristicEvent) => void;
    signal?: AbortSignal;
    weightsDtype: WeightsDtype;
    source: string;
    save: FinishOptions['save'];
  },
) {
  const { model, selectionData } = inputs;
  const outcome = await pruneToRatio(model, selectionData, options.heuristic, ratio, inputs.emit, inputs.signal);
  try {
    const finished = await finishPrunedModel({
      final: outcome.model,
      path: [],
      pruned: true,
      baseline: model,
      data: selectionData,
      weightsDtype: inputs.weightsDtype,
      report: { originalPath: inputs.source },
      save: inputs.save,
    });
    return { ratio, finalSteps: outcome.steps, ...finished };
  } finally {
    outcome.model.dispose();
  }
}
