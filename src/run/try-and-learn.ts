/**
 * The try-and-learn run, top to bottom (Huang et al. 2018):
 *
 *   for each prunable channel group, first to last:
 *     train a fresh agent on it (REINFORCE against the pruning reward)
 *     prune by the agent's final mask (p > 0.5), fine-tune
 *     if validation accuracy fell more than b below the unpruned model's,
 *       relax the decision (keep more filters, by the policy's probabilities)
 *     checkpoint the model, record the decision
 *   fine-tune the final model, report on the test split
 *
 * The run is an rxjs Observable of typed events. It writes its own record and
 * a checkpoint after every finished group, so an interrupted run resumes from
 * the last finished group and ends as an uninterrupted one would.
 */
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { Observable } from 'rxjs';
import { type IterationRecord, trainAgent } from '../../agent/reinforce.js';
import { PruningEnv } from '../../env/pruning-env.js';
import type { Dataset } from '../data/datasets.js';
import { cloneModel, loadModel, saveModel } from '../models/io.js';
import { buildGraph } from '../prune/graph.js';
import { modelCost } from '../prune/metrics.js';
import { type PruneReport, pruneReport } from '../prune/report.js';
import { pruneModel } from '../prune/surgery.js';
import type { Run } from '../runs/records.js';
import { type BatchProgress, evaluateAccuracy, trainModel } from '../train/train.js';
import type { PruneConfig } from './config.js';

/** What was decided for one group; the record keeps one per finished group. */
export interface GroupDecision {
  groupId: number;
  producers: string[];
  size: number;
  /** Channels kept (indices into the group before pruning). */
  kept: number[];
  /** The agent's final keep probabilities. */
  probabilities: number[];
  /** Channels the agent's own mask kept, before any relaxation. */
  agentKept: number;
  /** Times the decision was relaxed to stay within the tolerance. */
  relaxed: number;
  iterations: IterationRecord[];
  evaluations: number;
  /** Validation accuracy (full split) after fine-tuning, fraction. */
  validationAccuracy: number;
  /** Network MACs per image after this group. */
  macs: number;
  params: number;
  checkpoint: string;
  seconds: number;
}

export interface RunSummary {
  groups: GroupDecision[];
  report: PruneReport;
  modelPath: string;
  seconds: number;
  /** Candidate networks scored per second of agent search, and images they ran. */
  evaluationsPerSecond: number;
  candidateImagesPerSecond: number;
}

export type RunEvent =
  | { type: 'run-start'; runId: string; model: string; dataset: string; backend: string; tolerance: number; seed: number; groups: { id: number; size: number; producers: string[] }[]; baseValidationAccuracy: number; resumedGroups: number }
  | { type: 'group-start'; groupId: number; index: number; count: number; size: number; producers: string[] }
  | { type: 'iteration'; groupId: number; record: IterationRecord; maxIterations: number; floor: number }
  | { type: 'finetune-progress'; groupId: number | 'final'; progress: BatchProgress }
  | { type: 'group-done'; decision: GroupDecision; originalMacs: number; originalParams: number }
  | { type: 'run-done'; summary: RunSummary }
  | { type: 'error'; message: string };

export class InterruptedError extends Error {}

export interface TryAndLearnInput {
  /** The trained, unpruned model (not modified). */
  baseline: tf.LayersModel;
  data: Dataset;
  config: PruneConfig;
  run: Run;
  backend: string;
  /** Set from outside (SIGINT) to stop at the next iteration boundary. */
  shouldStop?: () => boolean;
}

/** Seeds derived per group, so a resumed run draws exactly what an uninterrupted one would. */
const groupSeed = (seed: number, groupId: number) => seed * 1000 + groupId + 1;

export function tryAndLearn(input: TryAndLearnInput): Observable<RunEvent> {
  return new Observable<RunEvent>((subscriber) => {
    let unsubscribed = false;
    const stop = () => unsubscribed || (input.shouldStop?.() ?? false);
    run(input, (event) => subscriber.next(event), stop).then(
      () => subscriber.complete(),
      (err: Error) => {
        subscriber.next({ type: 'error', message: err.message });
        subscriber.error(err);
      },
    );
    return () => {
      unsubscribed = true;
    };
  });
}

async function run({ baseline, data, config, run, backend }: TryAndLearnInput, emit: (e: RunEvent) => void, shouldStop: () => boolean): Promise<void> {
  const started = performance.now();
  const finetune = (model: tf.LayersModel, groupId: number | 'final', seed: number) =>
    trainModel(model, data, { ...(groupId === 'final' ? config.finalFinetune : config.finetune), seed, restoreBest: true }, { onBatch: (progress) => emit({ type: 'finetune-progress', groupId, progress }) });

  // The unpruned model's numbers are measured once and kept in the record, so a resumed run uses the same ones.
  const recorded = run.record.result as { baseValidationAccuracy?: number; rewardBaseAccuracy?: number; groups?: GroupDecision[] };
  const baseValidationAccuracy = recorded.baseValidationAccuracy ?? (await evaluateAccuracy(baseline, data.validation, data.inputShape));
  const done: GroupDecision[] = recorded.groups ?? [];
  const groups = buildGraph(baseline).prunableGroups();
  const originalCost = modelCost(baseline);

  // Continue from the last finished group's checkpoint, or from the baseline.
  const start = done.length > 0 ? await loadModel(done[done.length - 1].checkpoint) : await cloneModel(baseline);
  const envConfig = { tolerance: config.rewardTolerance ?? config.tolerance, phi: config.phi, rewardSamples: config.rewardSamples, evalBatchSize: config.evalBatchSize, seed: config.seed };
  const env = await PruningEnv.create(start, data, envConfig, recorded.rewardBaseAccuracy);
  if (recorded.rewardBaseAccuracy === undefined) {
    // p must be the unpruned model's accuracy: measured on the baseline, not on a resumed checkpoint.
    await run.update((r) => (r.result = { ...r.result, baseValidationAccuracy, rewardBaseAccuracy: env.baseAccuracy, groups: done }));
  }
  emit({ type: 'run-start', runId: run.id, model: config.model, dataset: data.name, backend, tolerance: config.tolerance, seed: config.seed, groups: groups.map(({ id, size, producers }) => ({ id, size, producers })), baseValidationAccuracy, resumedGroups: done.length });

  let searchSeconds = 0;
  let evaluations = 0;
  try {
    for (const [index, group] of groups.entries()) {
      if (index < done.length) continue;
      const groupStarted = performance.now();
      emit({ type: 'group-start', groupId: group.id, index, count: groups.length, size: group.size, producers: group.producers });

      // 1. Train a fresh agent on this group.
      env.setGroup(group.id);
      const floor = env.baseAccuracy - envConfig.tolerance;
      const searchStarted = performance.now();
      const agent = await trainAgent(env, config.agent, groupSeed(config.seed, group.id), (record) => emit({ type: 'iteration', groupId: group.id, record, maxIterations: config.agent.maxIterations, floor }), shouldStop);
      searchSeconds += (performance.now() - searchStarted) / 1000;
      evaluations += agent.evaluations;
      if (shouldStop()) throw new InterruptedError(`stopped during group ${group.id}`);

      // 2. Prune by its final mask and fine-tune; relax the decision while the tolerance is exceeded.
      const before = await cloneModel(env.model);
      const byProbability = Array.from(agent.probabilities, (_, c) => c).sort((a, b) => agent.probabilities[b] - agent.probabilities[a] || a - b);
      let kept = agent.kept;
      let relaxed = 0;
      let model: tf.LayersModel;
      let validationAccuracy: number;
      for (;;) {
        model = await pruneModel(buildGraph(before), new Map([[group.id, kept]]));
        validationAccuracy = (await finetune(model, group.id, groupSeed(config.seed, group.id))).validationAccuracy;
        const withinTolerance = 100 * (baseValidationAccuracy - validationAccuracy) <= config.tolerance;
        if (withinTolerance || kept.length === group.size || relaxed === config.relaxSteps) break;
        model.dispose();
        relaxed++;
        // Keep half of the remaining filters more, most probable first (all of them on the last relaxation).
        const count = relaxed === config.relaxSteps ? group.size : kept.length + Math.ceil((group.size - kept.length) / 2);
        kept = byProbability.slice(0, count).sort((a, b) => a - b);
      }
      if (100 * (baseValidationAccuracy - validationAccuracy) > config.tolerance && kept.length === group.size) {
        // Even keeping every filter, fine-tuning did not help: leave the group as it was.
        model.dispose();
        model = before;
        validationAccuracy = await evaluateAccuracy(model, data.validation, data.inputShape);
      } else {
        before.dispose();
      }
      env.replaceModel(model);

      // 3. Checkpoint, then record (the record never names a checkpoint that is not on disk).
      const checkpoint = await saveModel(model, join(run.dir, 'checkpoints', `group-${group.id}`));
      const cost = modelCost(model);
      const decision: GroupDecision = {
        groupId: group.id,
        producers: group.producers,
        size: group.size,
        kept,
        probabilities: Array.from(agent.probabilities),
        agentKept: agent.kept.length,
        relaxed,
        iterations: agent.iterations,
        evaluations: agent.evaluations,
        validationAccuracy,
        macs: cost.macs,
        params: cost.params,
        checkpoint,
        seconds: (performance.now() - groupStarted) / 1000,
      };
      done.push(decision);
      await run.update((r) => (r.result = { ...r.result, groups: done }));
      emit({ type: 'group-done', decision, originalMacs: originalCost.macs, originalParams: originalCost.params });
    }

    // 4. Final fine-tune (kept only if it helps), report, save.
    const final = await cloneModel(env.model);
    const beforeFinal = await evaluateAccuracy(final, data.validation, data.inputShape);
    const tuned = await finetune(final, 'final', config.seed + 999);
    if (tuned.validationAccuracy < beforeFinal) final.setWeights(env.model.getWeights());
    const report = await pruneReport(baseline, final, data);
    const modelPath = await saveModel(final, join(run.dir, 'model'));
    final.dispose();
    const summary: RunSummary = {
      groups: done,
      report,
      modelPath,
      seconds: (performance.now() - started) / 1000,
      evaluationsPerSecond: searchSeconds > 0 ? evaluations / searchSeconds : 0,
      candidateImagesPerSecond: searchSeconds > 0 ? (evaluations * Math.min(config.rewardSamples, data.validation.count)) / searchSeconds : 0,
    };
    await run.update((r) => (r.result = { ...r.result, groups: done, report, modelPath, summary: { ...summary, groups: undefined, report: undefined } }));
    await run.finish('done');
    emit({ type: 'run-done', summary });
  } finally {
    env.dispose();
  }
}

