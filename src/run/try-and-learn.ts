/**
 * The try-and-learn run, top to bottom (Huang et al. 2018):
 *
 *   split the validation images in two: the choice data (the selection split,
 *     every choice, each aiming at the bound certification would give; its
 *     reward subset scores the candidates) and the certification split (read
 *     once, at the end)
 *   for each prunable channel group, first to last:
 *     its budget: the drop allowed after it (a share of b by the MACs the
 *       groups so far touch), and the reward's tolerance (what is left of that
 *       budget x the recovery by fine-tuning measured on earlier decisions)
 *     decide it (agent/decide-group.ts): train a fresh agent on it
 *       (REINFORCE against the pruning reward, each candidate recovered by
 *       adaptive BatchNorm / least squares first); prune by the agent's final
 *       mask (p > 0.5), recover, fine-tune; then bisect the number of filters
 *       kept along the policy's ranking: more if the drop exceeds the budget,
 *       fewer if it is within (count search)
 *     checkpoint the model, record the decision
 *   (one-pass, onePass.enabled: no fine-tune and no selection check between
 *     groups; the reward's budget is a share of onePass.drop against the
 *     unpruned model, the count search scores candidates on the reward
 *     subset, and fallbackSteps points of the pass get the final fine-tune:
 *     they are the path)
 *   fine-tune the final model; certify it on the certification split (or the
 *     last model of its path that certifies); report on the test split (a
 *     compare's agent run stops before this: finishMethod ends it, as it
 *     ends every method)
 *
 * The run is an rxjs Observable of typed events. It writes its record and a
 * checkpoint after every finished group to its store (a run folder for the
 * CLI, memory for a library call), so an interrupted run resumes from the
 * last finished group and ends as an uninterrupted one would.
 */
import type * as tf from '@tensorflow/tfjs';
import { Observable } from 'rxjs';
import type { IterationRecord } from '../../agent/reinforce.js';
import { type CountProbe, decideGroup, groupSeed, type PathPointSource } from '../../agent/decide-group.js';
import { costShares, cumulativeBudgets, estimateRecovery, type RecoveryObservation } from '../../env/budget.js';
import { type EnvConfig, PruningEnv, type RewardBudget } from '../../env/pruning-env.js';
import { boundMargin, Certifier, expectedDisagreement, type PathModel, SelectionCheck } from '../certify/check.js';
import type { Certification, UncertifiedModel } from '../certify/certification.js';
import { holdoutSizes, holdoutSplits } from '../certify/holdout.js';
import { type LatencyTable, latencyShares } from '../latency/table.js';
import { defaultScoringWorkers } from '../backend/backend.js';
import { ScoringPool } from '../../env/scoring-pool.js';
import type { Dataset } from '../data/datasets.js';
import { cloneModel } from '../models/io.js';
import { buildGraph, type ChannelGroup } from '../prune/graph.js';
import { modelCost } from '../prune/metrics.js';
import { finishPrunedModel } from './finish.js';
import type { PruneReport } from './report.js';
import { type BatchProgress, type TrainConfig, trainModel } from '../train/train.js';
import { checkHoldout, envConfigOf, finalFinetuneOf, holdoutOf, onePassPoints, type PruneConfig } from './config.js';
import type { RunStore } from './store.js';
import type { RecordedEstimate } from './estimate.js';
import { addPhases, PhaseClock, type PhaseSeconds, timed, withPhaseClock } from '../phases.js';

/** What was decided for one group; the record keeps one per finished group. */
export interface GroupDecision {
  groupId: number;
  producers: string[];
  size: number;
  /** Channels kept (indices into the group before pruning). */
  kept: number[];
  /** The agent's final keep probabilities. */
  probabilities: number[];
  /** Channels the agent's own mask kept, before the count search. */
  agentKept: number;
  /** Fine-tuned probes of the count search after the agent's own mask. */
  relaxed: number;
  /** Every fine-tuned probe of this group, the agent's own mask first. */
  probes: CountProbe[];
  /** Drop (points, selection split) this group's share of the tolerance allows (see SelectionCheck.accepts). */
  allowedDrop: number;
  /** The reward's budget during the search, and the recovery it was calibrated with. */
  rewardBudget: RewardBudget & { recovery?: number };
  iterations: IterationRecord[];
  evaluations: number;
  /** Seconds of the agent's search on this group (absent in records from before 2026-11-22). */
  searchSeconds?: number;
  /** Whether the agent's search settled before its iteration limit. */
  converged: boolean;
  /** Selection-split accuracy after fine-tuning, fraction. */
  validationAccuracy: number;
  /** Network MACs per image after this group. */
  macs: number;
  params: number;
  /** The model after this group, as the run's store keeps it (a model.json path in a run folder). */
  checkpoint: string;
  /**
   * More models on the path certification walks, so that a failing model falls
   * back to a near one; most filters first, all more than `kept`: the count
   * search's probes within the budget before the one kept, and fallbackSteps
   * fine-tuned models between the group whole and `kept`.
   */
  pathPoints?: { kept: number; checkpoint: string; source: PathPointSource }[];
  /** False in a one-pass run: `checkpoint` was not fine-tuned (not on the path), and validationAccuracy and the probes' are the reward subset's before fine-tuning. Absent: true. */
  finetuned?: boolean;
  seconds: number;
  /** Where the group's seconds went (absent in records from before 2026-12-07). */
  phases?: PhaseSeconds;
}

/** A run's time over every attempt, and the rate of its agent search. */
export interface RunTotals {
  seconds: number;
  /** Where they went: the groups' phases (of every attempt) and this attempt's setup and end. */
  phases?: PhaseSeconds;
  /** Candidate networks scored per second of agent search, and images they ran. */
  evaluationsPerSecond: number;
  candidateImagesPerSecond: number;
}

export interface RunSummary extends RunTotals {
  groups: GroupDecision[];
  report: PruneReport;
  /** The pruned model the user gets (the certified one), as the run's store keeps it (a model.json path in a run folder). */
  modelPath: string;
  certification: Certification;
  /** The run's own final model when certification fell back to an earlier one: kept, with why. */
  uncertified?: UncertifiedModel;
}

/** What a prune run records (run.json's result, or a store's), filled as it goes. */
export interface PruneResult {
  /** The baseline's model.json, where there is one (a run folder's store). */
  baseline?: string;
  classNames?: string[];
  /** The unpruned model's accuracy on the selection split and on the reward subset (fractions), measured once. */
  baseValidationAccuracy?: number;
  rewardBaseAccuracy?: number;
  /** The groups decided so far, in order. */
  groups?: GroupDecision[];
  report?: PruneReport;
  modelPath?: string;
  certification?: Certification;
  uncertified?: UncertifiedModel;
  summary?: RunTotals & { modelPath?: string };
  /**
   * The run only searches: it ends after its last group, and its caller
   * finishes the model as it finishes every method (compare, through
   * finishMethod). Set when the run is created; a resumed run keeps it.
   */
  searchOnly?: boolean;
  /** What the run was estimated to take before it started (estimate.ts), to set beside what it took. */
  estimate?: RecordedEstimate;
}

export type RunEvent =
  | {
      type: 'run-start';
      runId: string;
      model: string;
      dataset: string;
      backend: string;
      tolerance: number;
      seed: number;
      groups: { id: number; size: number; producers: string[] }[];
      baseValidationAccuracy: number;
      resumedGroups: number;
      validationAccuracy: number;
      /** Seconds the run was estimated to take before it started (low, high; a fresh run's), the time left until a group has been timed. */
      estimate?: [number, number];
    }
  /** allowedDrop: validation points the run may have lost once this group is decided (its share of the tolerance). */
  /** activationCache: where the activations before the group are kept for its candidates (see CachedActivations). */
  | {
      type: 'group-start';
      groupId: number;
      index: number;
      count: number;
      size: number;
      producers: string[];
      allowedDrop: number;
      activationCache: PruningEnv['activationCache'];
    }
  /** floor: the lowest accuracy (fraction, reward subset, before fine-tuning) the reward's budget accepts. */
  | { type: 'iteration'; groupId: number; record: IterationRecord; minIterations: number; maxIterations: number; floor: number }
  | { type: 'finetune-progress'; groupId: number | 'final'; progress: BatchProgress }
  | { type: 'group-done'; decision: GroupDecision; originalMacs: number; originalParams: number }
  | { type: 'run-done'; summary: RunSummary }
  /** A search-only run (PruneResult.searchOnly) decided its last group; its caller finishes the model. */
  | { type: 'search-done'; groups: GroupDecision[]; totals: RunTotals }
  | { type: 'error'; message: string };

export interface TryAndLearnInput {
  /** The trained, unpruned model (not modified). */
  baseline: tf.LayersModel;
  data: Dataset;
  config: PruneConfig;
  /** Where the record and the models go; a store holding finished groups resumes after them. */
  store: RunStore<PruneResult>;
  /** The backend's name, for the events. */
  backend: string;
  /** Asked after every agent iteration and fine-tuning batch (Ctrl-C): true stops the run with an InterruptedError. */
  shouldStop?: () => boolean;
  /** The baseline's model.json, when it has one: the report gives its size on disk from its files. */
  baselinePath?: string;
  /** The target's latency table (phi: latency): the reward's time and the budget's shares come from it. */
  latency?: LatencyTable;
}

export function tryAndLearn(input: TryAndLearnInput): Observable<RunEvent> {
  return new Observable<RunEvent>((subscriber) => {
    let unsubscribed = false;
    const stop = () => unsubscribed || (input.shouldStop?.() ?? false);
    const clock = new PhaseClock();
    withPhaseClock(clock, () => run(input, clock, (event) => subscriber.next(event), stop)).then(
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

/** What a run sets up once (and a resumed run rebuilds from its record): the splits, the budgets, the environment. */
interface RunSetup {
  envConfig: EnvConfig;
  holdout: ReturnType<typeof holdoutSplits>;
  /** The data with the selection split as its validation split: every choice is made on it. */
  guarded: Dataset;
  groups: ChannelGroup[];
  selection: SelectionCheck;
  /** Validation points the run may have lost once each group is decided. */
  allowedDrops: number[];
  baseValidationAccuracy: number;
  /** The finished groups (from the record when resuming); each decision is pushed as it is made. */
  done: GroupDecision[];
  /** What fine-tuning recovered on earlier decisions. */
  recoveries: RecoveryObservation[];
  /** Seconds the groups finished by earlier processes took: a resumed run reports its whole time. */
  earlierSeconds: number;
  /** This attempt's phases; the groups of earlier ones keep theirs in the record. */
  clock: PhaseClock;
  /** Groups finished by earlier processes. */
  resumed: number;
  env: PruningEnv;
  /** The baseline: the teacher of the fine-tunes' distillation. */
  unpruned: tf.LayersModel;
}

async function run(input: TryAndLearnInput, clock: PhaseClock, emit: (e: RunEvent) => void, shouldStop: () => boolean): Promise<void> {
  const { baseline, data, config, store, backend } = input;
  const started = performance.now();
  const setup = await timed('setup', () => setUpRun(input, clock));
  const { env, groups, done, allowedDrops } = setup;
  const originalCost = modelCost(baseline);
  emit({
    type: 'run-start',
    runId: store.id,
    model: config.model,
    dataset: data.name,
    backend,
    tolerance: config.tolerance,
    seed: config.seed,
    groups: groups.map(({ id, size, producers }) => ({ id, size, producers })),
    baseValidationAccuracy: setup.baseValidationAccuracy,
    resumedGroups: done.length,
    validationAccuracy: done.at(-1)?.validationAccuracy ?? setup.baseValidationAccuracy,
    ...(done.length === 0 && store.result.estimate !== undefined && { estimate: store.result.estimate.total }),
  });
  // The agent's sampled masks are scored in worker threads (a criterion's policy samples none).
  const workers = config.policy === 'agent' ? (config.workers ?? defaultScoringWorkers()) : 1;
  const pool = workers > 1 ? ScoringPool.start(workers) : undefined;
  env.scoreWith(pool);
  try {
    for (const [index, group] of groups.entries()) {
      if (index < done.length) continue;
      const groupStarted = performance.now();
      clock.lap();
      const allowedDrop = allowedDrops[index];
      // 1. The group's activations cached, its budgets, then its decision: a fresh agent trained on it, and the count search along its ranking.
      env.setGroup(group.id);
      const { activationCache } = env;
      emit({ type: 'group-start', groupId: group.id, index, count: groups.length, size: group.size, producers: group.producers, allowedDrop, activationCache });
      const accuracyBefore = index === 0 ? setup.baseValidationAccuracy : done[index - 1].validationAccuracy;
      const reference = await env.modelAccuracy(env.model);
      const rewardBudget = config.onePass.enabled
        ? onePassBudget(setup, config, allowedDrop)
        : rewardBudgetOf(setup, config, { allowedDrop, accuracyBefore, reference });
      env.setRewardBudget(rewardBudget);
      const floor = rewardBudget.reference - rewardBudget.tolerance / 100;
      const { minIterations, maxIterations } = config.agent;
      const { agent, search, searchSeconds } = await decideGroup(
        {
          env,
          selection: setup.selection,
          finetune: (model) => finetuneModel(setup, groupFinetune(config, group.id), model, group.id, emit, shouldStop),
          onIteration: (record) => emit({ type: 'iteration', groupId: group.id, record, minIterations, maxIterations, floor }),
          shouldStop,
        },
        config,
        group,
        { allowedDrop, accuracyBefore, reference, floor },
      );

      // 2. The count kept becomes the network the next group is decided on; what fine-tuning recovered informs the next budgets.
      env.replaceModel(search.model);
      if (!config.onePass.enabled) setup.recoveries.push(...recoveriesOf(search.probes, accuracyBefore));
      const prunedSoFar = search.kept.length < group.size || done.some((d) => d.kept.length < d.size);
      if (config.onePass.enabled && prunedSoFar && onePassPoints(groups.length, config.fallbackSteps).includes(index)) {
        // A point of the path: the pass so far, given the final fine-tune.
        const point = await cloneModel(search.model);
        await finetuneModel(setup, finalFinetuneOf(config), point, group.id, emit, shouldStop).catch((err: unknown) => {
          point.dispose();
          throw err;
        });
        search.pathPoints.push({ count: search.kept.length, model: point, source: 'one-pass point' });
      }

      // 3. Checkpoints, then record (the record never names a checkpoint that is not on disk).
      const pathPoints: GroupDecision['pathPoints'] = [];
      for (const { count, model, source } of search.pathPoints) {
        const name = source === 'one-pass point' ? `checkpoints/group-${group.id}-finetuned` : `checkpoints/group-${group.id}-kept-${count}`;
        pathPoints.push({ kept: count, source, checkpoint: await store.saveModel(model, name) });
        model.dispose();
      }
      const checkpoint = await store.saveModel(search.model, `checkpoints/group-${group.id}`);
      const cost = modelCost(search.model);
      const decision: GroupDecision = {
        groupId: group.id,
        producers: group.producers,
        size: group.size,
        kept: search.kept,
        probabilities: Array.from(agent.probabilities),
        agentKept: agent.kept.length,
        relaxed: search.relaxed,
        probes: search.probes,
        allowedDrop,
        rewardBudget,
        iterations: agent.iterations,
        evaluations: agent.evaluations,
        searchSeconds,
        converged: agent.converged,
        validationAccuracy: search.validationAccuracy,
        macs: cost.macs,
        params: cost.params,
        checkpoint,
        pathPoints,
        ...(config.onePass.enabled && { finetuned: false }),
        seconds: (performance.now() - groupStarted) / 1000,
        phases: clock.lap(),
      };
      done.push(decision);
      await store.record({ ...store.result, groups: done });
      emit({ type: 'group-done', decision, originalMacs: originalCost.macs, originalParams: originalCost.params });
    }

    // 4. Final fine-tune (kept only if it helps), then certification, report, save; or the caller does, as it does for every method.
    if (store.result.searchOnly) await recordSearch(setup, input, started, emit);
    else await finishRun(setup, input, started, emit, shouldStop);
  } finally {
    env.model.dispose(); // the environment's last network (the saved model is a copy)
    env.dispose();
    await pool?.destroy();
  }
}

/** The splits, the budgets, the selection check and the environment; a resumed run takes the unpruned model's numbers and its finished groups from the record. */
async function setUpRun({ baseline, data, config, store, latency }: TryAndLearnInput, clock: PhaseClock): Promise<RunSetup> {
  checkHoldout(config, data.validation.count);
  const envConfig = envConfigOf(config, latency);
  // Every choice (fine-tuning's epoch, the count search) is made on the selection split; the claim on the certification split.
  const holdout = holdoutSplits(data.validation, holdoutOf(config), data.inputShape);
  const baseGraph = buildGraph(baseline);
  const groups = baseGraph.prunableGroups();
  const selection = await SelectionCheck.create(baseline, holdout.selection, data.inputShape, {
    tolerance: config.tolerance,
    confidence: config.confidence,
    certificationImages: holdout.certification.count,
  });
  // The unpruned model's numbers are measured once and kept in the record, so a resumed run uses the same ones.
  const recorded = store.result;
  const baseValidationAccuracy = recorded.baseValidationAccuracy ?? selection.baseAccuracy;
  const done: GroupDecision[] = recorded.groups ?? [];
  // The tolerance is spent by what the groups cost: their MACs, or their time on the target.
  const shares =
    config.phi === 'latency'
      ? latencyShares(
          latency!,
          groups.map((g) => g.id),
        )
      : costShares(baseGraph, groups);
  const allowedDrops = cumulativeBudgets(config.tolerance, groups, shares, config.budget.byCost);
  const recoveries = done.flatMap((d, i) => recoveriesOf(d.probes, i === 0 ? baseValidationAccuracy : done[i - 1].validationAccuracy));
  // Continue from the last finished group's checkpoint, or from the baseline.
  const start = done.length > 0 ? await store.loadModel(done[done.length - 1].checkpoint) : await cloneModel(baseline);
  // Records from before accuracies were fractions throughout (2026-11-22) hold p in percent.
  const rewardBaseAccuracy =
    recorded.rewardBaseAccuracy !== undefined && recorded.rewardBaseAccuracy > 1 ? recorded.rewardBaseAccuracy / 100 : recorded.rewardBaseAccuracy;
  const env = await PruningEnv.create(start, data, envConfig, rewardBaseAccuracy, baseline);
  if (recorded.rewardBaseAccuracy === undefined) {
    // p must be the unpruned model's accuracy: measured on the baseline, not on a resumed checkpoint.
    await store.record({ ...store.result, baseValidationAccuracy, rewardBaseAccuracy: env.baseAccuracy, groups: done });
  }
  const guarded: Dataset = { ...data, validation: holdout.selection };
  const earlierSeconds = done.reduce((sum, d) => sum + d.seconds, 0);
  return {
    envConfig,
    holdout,
    guarded,
    groups,
    selection,
    allowedDrops,
    baseValidationAccuracy,
    done,
    recoveries,
    earlierSeconds,
    clock,
    resumed: done.length,
    env,
    unpruned: baseline,
  };
}

/** What fine-tuning recovered at each probe: points lost before it against points lost after. */
const recoveriesOf = (probes: CountProbe[], accuracyBefore: number): RecoveryObservation[] =>
  probes.map((p) => ({ before: p.lossBeforeFinetune, after: 100 * (accuracyBefore - p.validationAccuracy) }));

/**
 * The reward's budget for a group: without calibration, b against the
 * unpruned model; with it, what is left of the group's allowed drop (the
 * room the certification margin leaves, with boundRoom) x the recovery measured
 * on earlier decisions, against the current model.
 */
function rewardBudgetOf(
  { envConfig, env, recoveries, selection, holdout, done, baseValidationAccuracy }: RunSetup,
  config: PruneConfig,
  { allowedDrop, accuracyBefore, reference }: { allowedDrop: number; accuracyBefore: number; reference: number },
): GroupDecision['rewardBudget'] {
  if (!config.budget.calibrate) return { reference: env.baseAccuracy, tolerance: envConfig.tolerance };
  const recovery = estimateRecovery(recoveries, config.budget, 0.05 * config.tolerance);
  // The margin (bound - drop) certification would add to the last accepted probe; before any, to a model with the disagreement pruned models have (expectedDisagreement).
  const last = done.flatMap((d) => d.probes.filter((p) => p.withinBudget)).at(-1);
  const margin =
    last === undefined
      ? boundMargin(holdout.certification.count, expectedDisagreement(1 - selection.baseAccuracy, config.tolerance), config.confidence)
      : last.upperBound - last.drop;
  // A probe passes when its drop leaves room for its bound (SelectionCheck.accepts): the reward aims at that room, not at the share of b.
  const room = config.budget.boundRoom ? allowedDrop * Math.max(0, 1 - margin / config.tolerance) : allowedDrop;
  // At least a twentieth of b: a group whose share is already spent may still remove what costs nothing.
  const remaining = Math.max(room - 100 * (baseValidationAccuracy - accuracyBefore), 0.05 * config.tolerance);
  return { reference, tolerance: remaining * recovery, recovery };
}

/** Fine-tunes `model` on the selection-guarded data (the unpruned model the teacher of distillation), reporting progress; the best epoch on the selection split is kept. */
const finetuneModel = (
  { guarded, unpruned }: RunSetup,
  finetune: TrainConfig,
  model: tf.LayersModel,
  groupId: number,
  emit: (e: RunEvent) => void,
  shouldStop: () => boolean,
) =>
  trainModel(
    model,
    guarded,
    { ...finetune, restoreBest: true },
    { onBatch: (progress) => emit({ type: 'finetune-progress', groupId, progress }), shouldStop },
    unpruned,
  );

/** The group's fine-tune: the config's, seeded per group. */
const groupFinetune = (config: PruneConfig, groupId: number): TrainConfig => ({ ...config.finetune, seed: groupSeed(config.seed, groupId), restoreBest: true });

/**
 * The one-pass reward budget: the reward subset may lose onePass.drop points
 * before fine-tuning by the last group, against the unpruned model, shared
 * over the groups as the tolerance is (allowedDrop / b of it by this group).
 */
function onePassBudget({ env }: RunSetup, config: PruneConfig, allowedDrop: number): GroupDecision['rewardBudget'] {
  const drop = config.onePass.drop ?? 4 * config.tolerance;
  return { reference: env.baseAccuracy, tolerance: (drop * allowedDrop) / config.tolerance };
}

/** The final fine-tune (kept only if it helps on the selection split), certification along the run's path, the report, the saved models and the record's summary. */
async function finishRun(
  setup: RunSetup,
  { baseline, data, config, store, baselinePath }: TryAndLearnInput,
  started: number,
  emit: (e: RunEvent) => void,
  shouldStop: () => boolean,
): Promise<void> {
  const { env, done, guarded, holdout } = setup;
  const final = await cloneModel(env.model);
  const path = await pathModels(done, store);
  try {
    const { modelPath, certification, uncertified, report } = await finishPrunedModel({
      final,
      finalFinetune: {
        config: finalFinetuneOf(config),
        hooks: { onBatch: (progress) => emit({ type: 'finetune-progress', groupId: 'final', progress }), shouldStop },
      },
      path,
      pruned: true,
      baseline,
      certifier: await Certifier.create(baseline, holdout.certification, data.inputShape, { tolerance: config.tolerance, confidence: config.confidence }),
      data: guarded,
      weightsDtype: config.weightsDtype,
      report: { originalPath: baselinePath, confidence: config.confidence },
      save: (m, which) => store.saveModel(m, which === 'certified' ? 'model' : 'uncertified', config.weightsDtype),
    });
    await recordRun(setup, { config, data, store }, started, { modelPath, certification: certification!, uncertified, report }, emit);
  } finally {
    for (const { model } of path) model.dispose();
    final.dispose();
  }
}

/** The run's time over every attempt and its search rate over every group, those finished by earlier processes too. */
function runTotals(
  { done, earlierSeconds, clock, resumed }: RunSetup,
  { config, data }: Pick<TryAndLearnInput, 'config' | 'data'>,
  started: number,
): RunTotals {
  const searched = done.filter((d) => d.searchSeconds !== undefined);
  const searchSeconds = searched.reduce((sum, d) => sum + d.searchSeconds!, 0);
  const evaluations = searched.reduce((sum, d) => sum + d.evaluations, 0);
  // Racing scores some candidates on fewer images; records from before it count every candidate on the whole subset.
  const reward = holdoutSizes(data.validation.count, holdoutOf(config)).reward;
  const images = searched.reduce((sum, d) => sum + d.iterations.reduce((n, r) => n + (r.imagesScored ?? (d.evaluations / d.iterations.length) * reward), 0), 0);
  return {
    seconds: earlierSeconds + (performance.now() - started) / 1000,
    phases: addPhases(...done.slice(0, resumed).map((d) => d.phases), clock.split()),
    evaluationsPerSecond: searchSeconds > 0 ? evaluations / searchSeconds : 0,
    candidateImagesPerSecond: searchSeconds > 0 ? images / searchSeconds : 0,
  };
}

/** The record's summary of a finished run, written and announced. */
async function recordRun(
  setup: RunSetup,
  { config, data, store }: Pick<TryAndLearnInput, 'config' | 'data' | 'store'>,
  started: number,
  { modelPath, certification, uncertified, report }: { modelPath: string; certification: Certification; uncertified?: UncertifiedModel; report: PruneReport },
  emit: (e: RunEvent) => void,
): Promise<void> {
  const totals = runTotals(setup, { config, data }, started);
  await store.record({ ...store.result, groups: setup.done, report, modelPath, certification, uncertified, summary: { modelPath, ...totals } });
  await store.finish();
  emit({ type: 'run-done', summary: { groups: setup.done, report, modelPath, certification, uncertified, ...totals } });
}

/** The end of a search-only run: its groups and totals recorded and announced, the model left to the caller (agentMethod). */
async function recordSearch(setup: RunSetup, { config, data, store }: TryAndLearnInput, started: number, emit: (e: RunEvent) => void): Promise<void> {
  const totals = runTotals(setup, { config, data }, started);
  await store.record({ ...store.result, groups: setup.done, summary: totals });
  await store.finish();
  emit({ type: 'search-done', groups: setup.done, totals });
}

/**
 * The run's path, least pruned first, loaded from the checkpoints: for each
 * group that pruned something, its path points (fall-back models and the
 * count search's earlier accepted probes, most filters first), then the model
 * after it; the last such model excepted (the final model is its fine-tuned
 * self). A one-pass run's groups were not fine-tuned: its path is the points
 * of the pass it fine-tuned (onePassPoints). The caller disposes them.
 */
export async function pathModels(done: GroupDecision[], store: Pick<RunStore<PruneResult>, 'loadModel'>): Promise<PathModel[]> {
  const path: PathModel[] = [];
  const last = done.filter((d) => d.kept.length < d.size).at(-1);
  for (const decision of done) {
    const pruned = decision.kept.length < decision.size;
    for (const { kept, checkpoint, source } of decision.pathPoints ?? []) {
      if (source === 'one-pass point') path.push({ label: `after group ${decision.groupId}, fine-tuned`, model: await store.loadModel(checkpoint) });
      else if (pruned) path.push({ label: `group ${decision.groupId} at ${kept} of ${decision.size}`, model: await store.loadModel(checkpoint) });
    }
    if (pruned && decision !== last && decision.finetuned !== false)
      path.push({ label: `after group ${decision.groupId}`, model: await store.loadModel(decision.checkpoint) });
  }
  return path;
}
