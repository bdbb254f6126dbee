/** A hand-made criterion's run in a run folder (`autoprune baseline`): prune to a ratio or to an accuracy tolerance, certify, save. */
import { join } from 'node:path';
import type { BackendChoice } from '../backend/backend.js';
import { criterionOf } from '../heuristics/criteria.js';
import {
  checkCriterion,
  describeResolution,
  type HeuristicConfig,
  type HeuristicEvent,
  type ProbeRecord,
  DEFAULT_SEARCH,
  prunableSizes,
  pruneToRatio,
  pruneToTolerance,
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
import { guardRun, modelShortName, Run } from './records.js';
import type { CriterionResult } from './results.js';
import type { RunLog } from './log.js';
import { percent } from '../text.js';
import { Certifier } from '../certify/check.js';
import { describeCertification } from '../certify/certification.js';
import { holdoutSplits } from '../certify/holdout.js';

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

export async function criterionRun(options: CriterionRunOptions, backend: BackendChoice, log: RunLog): Promise<Run> {
  const { data, model, source } = await trainedModelAndData(options, backend, log);
  checkPrunable(model, source);
  checkCriterion(model, options.heuristic, data);
  // The splits a compare at this seed gives its criteria (they do not depend on the reward subset): the selection split takes the search's choices, the certification split the claim.
  const holdout = holdoutSplits(data.validation, { rewardSamples: 0, seed: options.heuristic.seed }, data.inputShape);
  const target = options.search
    ? `tolerance ${options.search.tolerance} points, bisection to ${describeResolution(prunableSizes(model))} (at most ${options.search.maxProbes} probes)`
    : `ratio ${options.ratio}`;
  const config = { ...options, baseline: source, dataSource: data.source };
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
    return await guardRun(run, async () => {
      // Announced once a stop signal is recorded: a signal after this line always leaves the run interrupted.
      log.line(`run: ${run.dir}`);
      const selectionData = { ...data, validation: holdout.selection };
      const outcome = options.search
        ? await pruneToTolerance(model, selectionData, options.heuristic, { ...options.search, certificationImages: holdout.certification.count }, emit)
        : { ...(await pruneToRatio(model, selectionData, options.heuristic, options.ratio!, emit)), ratio: options.ratio!, path: [] };
      const weightsDtype = options.weightsDtype ?? weightsDtypeOf(source);
      const confidence = options.search?.confidence ?? DEFAULT_SEARCH.confidence!;
      // A tolerance search certifies its path; a fixed ratio has no tolerance to certify.
      const certifier =
        options.search && (await Certifier.create(model, holdout.certification, data.inputShape, { tolerance: options.search.tolerance, confidence }));
      const { modelPath, certification, uncertified, report } = await finishPrunedModel({
        final: outcome.model,
        ...(options.search && options.finalFinetune && { finalFinetune: { config: options.finalFinetune, hooks: { onBatch: showFinalFinetune(log) } } }),
        path: outcome.path,
        pruned: true,
        baseline: model,
        certifier,
        data: selectionData,
        weightsDtype,
        report: { originalPath: source, confidence },
        save: (m, which) => saveModel(m, join(run.dir, which === 'certified' ? 'model' : 'uncertified'), weightsDtype),
      });
      await run.update((r) => {
        r.result = { ...r.result, ratio: outcome.ratio, finalSteps: outcome.steps, report, modelPath, certification, uncertified };
      });
      await run.finish('done');
      log.line(`pruned ${(100 * outcome.ratio).toFixed(1)}% of the prunable channels`);
      if (certification !== undefined) log.line(describeCertification(certification));
      for (const line of formatReport(report)) log.line(line);
      log.line(`saved ${modelPath}${uncertified === undefined ? '' : ` (the uncertified final model: ${uncertified.modelPath})`}`);
      for (const m of [outcome.model, ...outcome.path.map((p) => p.model)]) m.dispose();
      return run;
    });
  } finally {
    model.dispose();
  }
}
