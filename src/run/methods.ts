/**
 * Every pruning method behind one interface: the agent, a hand-made
 * criterion, sensitivity analysis. A method searches on the choice data and
 * returns its final model and the path certification walks; finishMethod
 * ends each one alike (the final fine-tune, certification of the path on the
 * certification split, the saved model, its report), whichever command runs
 * it: compare runs every row through here, `criterion` its tolerance search.
 */
import { basename, dirname } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import type { Certifier, PathModel } from '../certify/check.js';
import type { Dataset } from '../data/datasets.js';
import { type Criterion, type CriterionName, criterionOf } from '../heuristics/criteria.js';
import {
  checkCriterion,
  DEFAULT_HEURISTIC_CONFIG,
  DEFAULT_SEARCH,
  describeSearch,
  type HeuristicConfig,
  type HeuristicEvent,
  prunableSizes,
  pruneToTolerance,
  type Ranking,
  RANKINGS,
  type SearchStart,
  searchResolution,
  type ToleranceResult,
} from '../heuristics/pipeline.js';
import { DEFAULT_SENSITIVITY_CONFIG, pruneBySensitivity, type SensitivityConfig, type SensitivityEvent } from '../heuristics/sensitivity.js';
import { channelCosts, type LatencyTable } from '../latency/table.js';
import { cloneModel, loadModel } from '../models/io.js';
import { RunError } from '../errors.js';
import { modelCost, reduction } from '../prune/metrics.js';
import { evaluateAccuracy, stopRequested, type TrainConfig, type TrainHooks } from '../train/train.js';
import { type AgentGroupHistory, betterRanking, type Method, type RankingVariant, type ResultRow, searchEdge } from './compare-results.js';
import { finalFinetuneOf, onePassPoints, type PruneConfig } from './config.js';
import { type FinishedModel, finishPrunedModel } from './finish.js';
import type { RunLog } from './log.js';
import { pruneLoaded, type RunContext, resumeRun } from './prune-run.js';
import type { Run } from './records.js';
import { layerWidths, type ModelSummary } from './report.js';
import { openRun } from './results.js';
import type { PhaseSeconds } from '../phases.js';
import { type GroupDecision, type PruneResult, pathModels, type RunEvent } from './try-and-learn.js';

/** The settings every method of a comparison shares. */
export interface MethodSettings {
  /** Accuracy points the certified model may lose. */
  tolerance: number;
  /** Confidence of the certified claim. */
  confidence: number;
  /** Seed of fine-tuning's batch order and of the random criterion. */
  seed: number;
  /** The fine-tune after every pruning step (a criterion's probe, a sensitivity probe). */
  finetune: TrainConfig;
  /** Cap on the bisection probes of each tolerance search; they stop earlier at their resolution. */
  probes: number;
  /** Kept counts rounded up to a multiple of this; absent: any count. */
  widthMultiple?: number;
  /** Where each tolerance search starts (default 'top'). */
  searchStart?: SearchStart;
  /** Sensitivity analysis's ratios and the images its curves are measured on (default DEFAULT_SENSITIVITY_CONFIG's). */
  sensitivity?: Pick<SensitivityConfig, 'ratios' | 'curveImages'>;
}

/** What every method works from: the same baseline, data, splits and certifier. */
export interface MethodInputs {
  settings: MethodSettings;
  /** The data with the selection split as its validation split (the reward subset inside it, the certification split left out). */
  selectionData: Dataset;
  baseline: tf.LayersModel;
  /** The baseline's accuracy and cost, taken once. */
  unpruned: Pick<ModelSummary, 'macs' | 'params'>;
  /** The certification split, against the baseline's answers there. */
  certifier: Certifier;
  /** The target's latency table (phi: latency): global ranking weighs each channel by the time it saves. */
  latency?: LatencyTable;
  log: RunLog;
  /** The caller's stop: the method ends after its current batch or step with an InterruptedError. */
  signal?: AbortSignal;
}

/** A method's search: its final model, the path certification walks (least pruned first; the final model follows it), the row's details. */
export interface MethodSearch {
  final: tf.LayersModel;
  path: PathModel[];
  /** False when the search pruned nothing: the final model is the baseline's copy, nothing to fine-tune or certify. */
  pruned: boolean;
  details: Partial<ResultRow>;
  /** The search's seconds over every attempt, when it resumed an earlier one (the agent's run). */
  seconds?: number;
  /** Where they went, when the search measured it in a run of its own (the agent's); else the caller's clock did. */
  phases?: PhaseSeconds;
}

export interface PruningMethod {
  /** As results name it: a Method, or a criterion of the user's own. */
  name: string;
  /** The planned search, in one line, before it starts. */
  plan(inputs: MethodInputs): string;
  search(inputs: MethodInputs): Promise<MethodSearch>;
}

/** What the end of a method is given besides its search. */
export interface FinishOptions {
  /** The final fine-tune every method gets (finalFinetuneOf a config); its progress hooks. */
  finalFinetune: TrainConfig;
  hooks?: TrainHooks;
  weightsDtype?: PruneConfig['weightsDtype'];
  /** Saves a model (the certified one, or a final one that did not certify) where the caller keeps it; returns its model.json path. */
  save: (model: tf.LayersModel, which: 'certified' | 'uncertified') => Promise<string>;
  /** The report's baseline numbers: measured once for every method, or from its file. */
  report: { before?: ModelSummary; originalPath?: string };
}

/**
 * The end of every method: the final fine-tune, the path certified least
 * pruned first and the final model last, the certified model saved and
 * reported, a final model that did not certify saved beside it. Disposes
 * the search's models; the certified one is in the file `save` wrote.
 */
export async function finishMethod(
  { final, path, pruned }: MethodSearch,
  { baseline, certifier, selectionData, settings, signal }: MethodInputs,
  options: FinishOptions,
): Promise<Omit<FinishedModel, 'certified'> & { layers: ReturnType<typeof layerWidths> }> {
  try {
    const { certified, ...finished } = await finishPrunedModel({
      final,
      finalFinetune: { config: options.finalFinetune, hooks: { ...options.hooks, shouldStop: stopRequested(signal) } },
      path,
      pruned,
      baseline,
      certifier,
      data: selectionData,
      weightsDtype: options.weightsDtype,
      report: { ...options.report, confidence: settings.confidence },
      save: options.save,
    });
    // The certified model is one of the search's (disposed below) or the baseline: the caller gets its file and widths.
    return { ...finished, layers: layerWidths(baseline, certified) };
  } finally {
    final.dispose();
    for (const p of path) p.model.dispose();
  }
}

/** The shared settings of a run of `config` (its tolerance, seed and step fine-tune, seeded by the run's seed). */
export const methodSettings = (config: PruneConfig, probes: number): MethodSettings => ({
  tolerance: config.tolerance,
  confidence: config.confidence,
  seed: config.seed,
  finetune: { ...config.finetune, seed: config.seed, restoreBest: true },
  probes,
  widthMultiple: config.widthMultiple,
  searchStart: config.searchStart,
  sensitivity: config.sensitivity,
});

/** The finishing settings of a run of `config`: its final fine-tune and weights' dtype. */
export const finishSettings = (config: PruneConfig): Pick<FinishOptions, 'finalFinetune' | 'weightsDtype'> => ({
  finalFinetune: finalFinetuneOf(config),
  weightsDtype: config.weightsDtype,
});

const showFinetune = (label: string, log: RunLog) => (event: { progress: { epoch: number; epochs: number; batch: number; batches: number } }) =>
  log.status(`  ${label}: fine-tuning epoch ${event.progress.epoch}/${event.progress.epochs} batch ${event.progress.batch}/${event.progress.batches}`);

const dropText = ({ drop, upperBound, withinTolerance }: { drop: number; upperBound: number; withinTolerance: boolean }) =>
  `selection drop ${drop.toFixed(2)} points, bound if certified ${upperBound.toFixed(2)}${withinTolerance ? '' : ' (over the tolerance)'}`;

export interface CriterionMethodOptions {
  /** The rankings searched, each to the same resolution; the method takes the one that removes more FLOPs (default: both). */
  rankings?: readonly Ranking[];
  /** Settings over the shared ones (the criterion command's schedule, steps, fine-tune). */
  heuristic?: Partial<Omit<HeuristicConfig, 'criterion'>>;
  /** Largest share of channels the search tries. */
  maxRatio?: number;
  /** Every step and probe of the search, as it happens; given, the method logs none of them itself (the criterion command has its own lines). */
  onEvent?: (event: HeuristicEvent) => void;
}

/**
 * A hand-made criterion's tolerance search, with each of its rankings (same
 * fine-tuning, same tolerance, same resolution); it takes the ranking that
 * removes more FLOPs, and its details keep both.
 */
export function criterionMethod(criterion: CriterionName | Criterion, options: CriterionMethodOptions = {}): PruningMethod {
  const name = criterionOf(criterion).name;
  const rankings = options.rankings ?? RANKINGS;
  const heuristicOf = ({ settings, latency }: MethodInputs): HeuristicConfig => ({
    ...DEFAULT_HEURISTIC_CONFIG,
    criterion,
    finetune: settings.finetune,
    seed: settings.seed,
    ...(latency && { channelCosts: channelCosts(latency) }),
    widthMultiple: settings.widthMultiple,
    ...options.heuristic,
  });
  return {
    name,
    plan: ({ baseline, settings }) =>
      `${name}: ${describeSearch(settings.searchStart, prunableSizes(baseline))}, with ${rankings.map((r) => `${r}`).join(' and with ')} ranking`,
    async search(inputs) {
      const { settings, selectionData: data, baseline, unpruned, certifier, log } = inputs;
      const heuristic = heuristicOf(inputs);
      checkCriterion(baseline, heuristic, data);
      const search = {
        ...DEFAULT_SEARCH,
        tolerance: settings.tolerance,
        confidence: settings.confidence,
        certificationImages: certifier.split.count,
        maxProbes: settings.probes,
        start: settings.searchStart,
        resolution: searchResolution(prunableSizes(baseline)),
        ...(options.maxRatio !== undefined && { maxRatio: options.maxRatio }),
      };
      const searches: { found: ToleranceResult; variant: RankingVariant }[] = [];
      for (const ranking of rankings) {
        const label = rankings.length > 1 ? `${name} (${ranking})` : name;
        const onEvent =
          options.onEvent ??
          ((event: HeuristicEvent) => {
            if (event.type === 'finetune-progress') showFinetune(label, log)(event);
            if (event.type === 'probe-done') log.line(`  ${label} probe ${event.probe.probe}: ratio ${event.probe.ratio.toFixed(3)}, ${dropText(event.probe)}`);
          });
        const found = await pruneToTolerance(baseline, data, { ...heuristic, ranking }, search, onEvent, inputs.signal);
        searches.push({ found, variant: await describeVariant(ranking, found, inputs) });
      }
      for (const { variant } of searches) {
        const edge = searchEdge(variant, search.maxRatio);
        if (edge.cutShort)
          log.line(
            `  ${name} (${variant.ranking}): the probe cap (${settings.probes}) stopped the search with the edge between ratios ${edge.low.toFixed(3)} and ${edge.high.toFixed(3)}, coarser than its resolution ${variant.resolution.toFixed(3)}; more --probes would search further`,
          );
      }
      const chosen = betterRanking(searches.map((s) => s.variant));
      for (const { found, variant } of searches) if (variant !== chosen) for (const m of [found.model, ...found.path.map((p) => p.model)]) m.dispose();
      const { found } = searches.find((s) => s.variant === chosen)!;
      if (searches.length > 1)
        log.line(
          `  ${name}: ${chosen.ranking} ranking taken (${searches.map((s) => `${s.variant.ranking} ${s.variant.theoreticalSpeedup.toFixed(2)}x FLOPs`).join(', ')})`,
        );
      return {
        final: found.model,
        path: found.path,
        pruned: found.ratio > 0,
        details: {
          ranking: chosen.ranking,
          variants: searches.map((s) => s.variant),
          tradeOff: chosen.probes.map((p) => ({
            flopsReduction: unpruned.macs / p.steps[p.steps.length - 1].macs,
            validationAccuracy: p.validationAccuracy,
            label: `ratio ${p.ratio.toFixed(3)}`,
          })),
        },
      };
    },
  };
}

/** A ranking's search as results.json keeps it, measured before the final fine-tune (test accuracy is reported, never used to choose). */
async function describeVariant(ranking: Ranking, found: ToleranceResult, { selectionData: data, unpruned }: MethodInputs): Promise<RankingVariant> {
  return {
    ranking,
    ratio: found.ratio,
    ...reduction(unpruned, modelCost(found.model)),
    validationAccuracy: found.validationAccuracy,
    testAccuracy: await evaluateAccuracy(found.model, data.test, data.inputShape),
    resolution: found.resolution,
    probes: found.probes,
  };
}

/** Li et al.'s sensitivity analysis: each group's drop pruned alone, then a tolerance search over the drop threshold. */
export const sensitivityMethod: PruningMethod = {
  name: 'sensitivity',
  plan: ({ settings }) => {
    const { ratios, curveImages } = { ...DEFAULT_SENSITIVITY_CONFIG, ...settings.sensitivity };
    const on = curveImages === undefined ? '' : ` on ${curveImages} selection images`;
    return `sensitivity: each group pruned alone (L1) at ${ratios.length} ratios from ${ratios[0]} to ${ratios.at(-1)}${on}, then a ${settings.searchStart === 'low' ? 'search up from the lowest drop threshold (doubling, then bisection)' : 'bisection over the drop threshold'} (at most ${settings.probes} probes)`;
  },
  async search({ settings, selectionData: data, baseline, unpruned, certifier, log, signal }) {
    const config = { ...DEFAULT_SENSITIVITY_CONFIG, ...settings.sensitivity, finetune: settings.finetune, widthMultiple: settings.widthMultiple };
    const onEvent = (event: SensitivityEvent) => {
      if (event.type === 'finetune-progress') showFinetune('sensitivity', log)(event);
      if (event.type === 'group-measured') {
        const { groupId, producers, size, points } = event.curve;
        log.line(
          `  sensitivity: group ${groupId} (${producers.join(', ')}, ${size} channels), validation drop before fine-tuning at each ratio: ${points.map((p) => p.drop.toFixed(1)).join(' ')}`,
        );
      }
      if (event.type === 'probe-done') {
        const p = event.probe;
        log.line(
          `  sensitivity probe ${p.probe}: threshold ${p.threshold.toFixed(2)} points, ratios ${Object.values(p.ratios)
            .map((r) => r.toFixed(2))
            .join('/')}, ${dropText(p)}`,
        );
      }
    };
    const search = {
      tolerance: settings.tolerance,
      confidence: settings.confidence,
      certificationImages: certifier.split.count,
      maxProbes: settings.probes,
      start: settings.searchStart,
    };
    const found = await pruneBySensitivity(baseline, data, config, search, onEvent, signal);
    return {
      final: found.model,
      path: found.path,
      pruned: found.threshold !== undefined,
      details: {
        tradeOff: found.probes.map((p) => ({
          flopsReduction: unpruned.macs / p.macs,
          validationAccuracy: p.validationAccuracy,
          label: `threshold ${p.threshold.toFixed(2)}`,
        })),
        sensitivity: { curves: found.curves, threshold: found.threshold, ratios: found.ratios, probes: found.probes },
      },
    };
  },
};

export interface AgentMethodOptions {
  /** The agent's config (the compare's): its tolerance, seed and fine-tuning are every method's. */
  config: PruneConfig;
  /** All of the data, its validation split whole: the agent's run splits it as every prune run does, into the same selection and certification splits. */
  data: Dataset;
  /** The baseline's model.json. */
  source: string;
  /** Where the agent's run goes, how it reports its events. */
  context: RunContext;
  /** The folder of the agent's run an earlier attempt started: resumed from its last finished group, or taken as it is if its search finished. */
  earlierRun?: string;
  /** Learns the new run before it starts (a compare records where it is, to resume it). */
  created?: (run: Run<PruneResult>) => Promise<void>;
  /** Shows the agent's run (the dashboard, or the line log) instead of context.onEvent; closed when its search ends. */
  present?: () => Promise<AgentView>;
}

export interface AgentView {
  onEvent: (event: RunEvent) => void;
  close: () => Promise<void>;
}

/**
 * The agent (try-and-learn): a prune run of its own that searches group by
 * group and stops after the last one (searchOnly), resumable; its final model
 * is the last group's checkpoint, its path every group's points and models.
 */
export function agentMethod(options: AgentMethodOptions): PruningMethod {
  const { config, data, source, context } = options;
  return {
    name: 'rl',
    plan: ({ baseline }) => {
      const groups = prunableSizes(baseline).length;
      const then = config.onePass.enabled
        ? `then up to ${config.relaxSteps} more counts scored before fine-tuning (one pass: no fine-tune between groups; ${onePassPoints(groups, config.fallbackSteps).length} points of the pass fine-tuned for the path)`
        : `then up to ${config.relaxSteps} more fine-tuned counts and ${config.fallbackSteps} fall-back models per pruned group`;
      return `rl: a prune run deciding ${groups} groups one by one, ${config.agent.minIterations}-${config.agent.maxIterations} iterations of ${config.agent.samplesPerIteration} candidates each, ${then}`;
    },
    async search({ baseline }) {
      const earlier = options.earlierRun;
      const view = await options.present?.();
      const agentContext = view === undefined ? context : { ...context, onEvent: view.onEvent };
      const run = await (earlier !== undefined
        ? continueAgentRun(earlier, agentContext)
        : pruneLoaded({ ...config, model: source }, data, await cloneModel(baseline), source, agentContext, { created: options.created, searchOnly: true })
      ).finally(() => view?.close());
      const { groups, summary } = run.record.result;
      if (run.record.status !== 'done' || groups === undefined || groups.length === 0) throw new Error(`prune run ${run.id} ended ${run.record.status}`);
      const pruned = groups.some((g) => g.kept.length < g.size);
      const final = await loadModel(groups[groups.length - 1].checkpoint);
      const path = await pathModels(groups, { loadModel });
      const originalMacs = modelCost(baseline).macs;
      return {
        final,
        path,
        pruned,
        // A resumed agent's time is its run's over every attempt, not this one's.
        ...(earlier !== undefined && summary !== undefined && { seconds: summary.seconds }),
        ...(summary?.phases !== undefined && { phases: summary.phases }),
        details: {
          runId: run.id,
          // A one-pass run's groups were not fine-tuned: no point of the trade-off.
          tradeOff: groups
            .filter((g) => g.finetuned !== false)
            .map((g) => ({ flopsReduction: originalMacs / g.macs, validationAccuracy: g.validationAccuracy, label: `after group ${g.groupId}` })),
          agent: agentHistory(groups),
        },
      };
    },
  };
}

/** An agent run (its folder) an earlier attempt started: resumed, or as it is if its search finished before the attempt was stopped. */
async function continueAgentRun(dir: string, context: RunContext): Promise<Run<PruneResult>> {
  const runsDir = dirname(dir);
  const run = await openRun(runsDir, basename(dir), 'prune', 'can be resumed');
  if (!run.record.result.searchOnly)
    throw new RunError(`prune run ${run.id} was started by a compare of an earlier version, whose agent run finished its own model; start the compare again`);
  return run.record.status === 'done' ? run : resumeRun(run.id, { ...context, runsDir });
}

/** The agent's per-group learning curves, from its prune run's record. */
function agentHistory(groups: GroupDecision[]): AgentGroupHistory[] {
  return groups.map((g) => ({
    groupId: g.groupId,
    producers: g.producers,
    size: g.size,
    kept: g.kept.length,
    agentKept: g.agentKept,
    probes: g.probes.map(({ kept, withinBudget }) => ({ kept, withinBudget })),
    converged: g.converged,
    finalEntropy: g.iterations[g.iterations.length - 1]?.entropy ?? NaN,
    iterations: g.iterations.map((it) => ({ iteration: it.iteration, meanReward: it.meanReward, keptRatio: it.meanKept / g.size })),
  }));
}

/** A compare's method by name: the agent (whose run needs its own options), a criterion, or sensitivity analysis. */
export function methodOf(method: Method, agent: () => AgentMethodOptions): PruningMethod {
  if (method === 'rl') return agentMethod(agent());
  if (method === 'sensitivity') return sensitivityMethod;
  return criterionMethod(method);
}
