/**
 * How one channel group is decided, top to bottom (the try-and-learn run
 * around it, src/run/try-and-learn.ts, sets its budgets and records it):
 *
 *   the policy: a fresh agent trained on the group (REINFORCE against the
 *     pruning reward, reinforce.ts), or a criterion's scores as a fixed one
 *   the count search along the policy's ranking (most probable first): the
 *     policy's own count, then more or fewer filters (nextCount), each probe
 *     pruned, recovered and fine-tuned, and accepted when its selection drop
 *     plus the margin certification would add stays within the group's share
 *     of the tolerance (one pass: scored on the reward subset before any
 *     fine-tune, against the reward's floor)
 *   fall-back points: fine-tuned widths between the count kept and the group
 *     whole, so that certification can fall back near it
 */
import type * as tf from '@tensorflow/tfjs';
import type { PruningEnv } from '../env/pruning-env.js';
import type { SelectionCheck } from '../src/certify/check.js';
import { CriterionError, InterruptedError } from '../src/errors.js';
import { type CriterionName, topChannels } from '../src/heuristics/criteria.js';
import { roundedUpWidth, widthsOf } from '../src/heuristics/pipeline.js';
import { cloneModel } from '../src/models/io.js';
import type { ChannelGroup } from '../src/prune/graph.js';
import type { TrainingOutcome } from '../src/train/train.js';
import { type AgentConfig, type AgentResult, type IterationRecord, trainAgent } from './reinforce.js';

/** What deciding a group reads of the run's config. */
export interface GroupSearchConfig {
  /** 'agent', or a criterion's name whose scores rank the filters. */
  policy: 'agent' | CriterionName;
  agent: AgentConfig;
  seed: number;
  /** bisect: the bracket between the largest count over budget and the smallest within; halve: half the rest more per step. */
  countSearch: 'bisect' | 'halve';
  /** Search below the policy's own count when it passes. */
  tighten: boolean;
  /** Probes after the policy's own count, at most. */
  relaxSteps: number;
  /** Fine-tuned widths between the count kept and the group whole. */
  fallbackSteps: number;
  /** Counts kept are multiples of this (or the group's size). */
  widthMultiple: number;
  onePass: { enabled: boolean };
}

/** What deciding a group works with: the environment (on the group), the selection split's check, and how a probe is fine-tuned. */
export interface GroupSearchContext {
  env: PruningEnv;
  selection: SelectionCheck;
  /** Fine-tunes a probe's model in place (the group's fine-tune), keeping its best epoch on the selection split. */
  finetune: (model: tf.LayersModel) => Promise<TrainingOutcome>;
  onIteration: (record: IterationRecord) => void;
  shouldStop: () => boolean;
}

/** What the group may lose: its share of b on the selection split, the accuracy before it, the reward subset's reference, and the reward's floor (one pass). */
export interface GroupBudget {
  allowedDrop: number;
  accuracyBefore: number;
  reference: number;
  floor: number;
}

/** One fine-tuned probe of the count search. */
export interface CountProbe {
  kept: number;
  /** Points lost on the reward subset before fine-tuning (after recovery), against the model before this group. */
  lossBeforeFinetune: number;
  /** Selection-split accuracy after fine-tuning, fraction. */
  validationAccuracy: number;
  /** Points lost on the selection split against the unpruned model, and that drop plus the margin certification would add to it (`certificationBound`). */
  drop: number;
  upperBound: number;
  withinBudget: boolean;
}

/**
 * Where a path point comes from: an accepted count-search probe, a fall-back
 * width between it and the group whole, or (one-pass) the pass so far, given
 * the final fine-tune.
 */
export type PathPointSource = 'accepted probe' | 'fallback' | 'one-pass point';

/** The count search's outcome: the model kept (the caller owns it) and how it was found. */
export interface CountSearch {
  model: tf.LayersModel;
  kept: number[];
  probes: CountProbe[];
  validationAccuracy: number;
  relaxed: number;
  /** Models with more filters than the one kept, most first (GroupDecision.pathPoints); the caller disposes them. */
  pathPoints: { count: number; model: tf.LayersModel; source: PathPointSource }[];
}

/** Seeds derived per group, so a resumed run draws exactly what an uninterrupted one would. */
export const groupSeed = (seed: number, groupId: number) => seed * 1000 + groupId + 1;

/** The group's policy, then its count search; the environment must be set to the group with its reward budget. */
export async function decideGroup(
  context: GroupSearchContext,
  config: GroupSearchConfig,
  group: ChannelGroup,
  budget: GroupBudget,
): Promise<{ agent: AgentResult; searchSeconds: number; search: CountSearch }> {
  const { env, shouldStop } = context;
  const searchStarted = performance.now();
  // A group with no allowed width below its size (widthMultiple) cannot shrink: no search.
  const agent = cannotShrink(group, config)
    ? keepsWhole(group)
    : config.policy === 'agent'
      ? await trainAgent(env, config.agent, groupSeed(config.seed, group.id), context.onIteration, shouldStop)
      : criterionPolicy(config.policy, env.criterionScores(config.policy), group);
  const searchSeconds = (performance.now() - searchStarted) / 1000;
  if (shouldStop()) throw new InterruptedError(`stopped during group ${group.id}`);
  const search = config.onePass.enabled
    ? await searchCountBeforeFinetune(context, config, group, agent, budget)
    : await searchCount(context, config, group, agent, budget);
  return { agent, searchSeconds, search };
}

/**
 * Where a count search starts: the policy's ranking (most probable first; a
 * count keeps its first filters, in channel order), the allowed widths, and
 * the first count: the agent's own, rounded up to a width. Keeping every
 * filter is the model as it is: nothing to fine-tune or check (fine-tuning a
 * converged model only costs time, and can cost accuracy); tightening then
 * starts below it.
 */
function countSearchStart(config: GroupSearchConfig, group: ChannelGroup, agent: AgentResult) {
  const ranking = Array.from(agent.probabilities, (_, c) => c).sort((a, b) => agent.probabilities[b] - agent.probabilities[a] || a - b);
  const keptAt = (count: number) => ranking.slice(0, count).sort((a, b) => a - b);
  const widths = widthsOf(group.size, config.widthMultiple);
  const agentCount = roundedUpWidth(agent.kept.length, group.size, config.widthMultiple);
  const agentKeepsAll = agentCount === group.size;
  const first = agentKeepsAll
    ? (nextCount(config.countSearch, config.tighten, { failing: 0, passing: group.size, size: group.size, agentPassed: true, lastPassed: true }, widths) ??
      group.size)
    : agentCount;
  return { keptAt, widths, agentKeepsAll, first };
}

/**
 * The one-pass count search of one group: the agent's own count, then more or
 * fewer filters along the policy's ranking (nextCount, up to relaxSteps more),
 * each candidate recovered and scored on the reward subset with no
 * fine-tune; within the budget when it keeps the reward's floor (the unpruned
 * accuracy less this group's share of onePass.drop). Returns the smallest
 * count within it (its recovered model), or the group whole.
 */
async function searchCountBeforeFinetune(
  { env, shouldStop }: GroupSearchContext,
  config: GroupSearchConfig,
  group: ChannelGroup,
  agent: AgentResult,
  { floor, reference }: GroupBudget,
): Promise<CountSearch> {
  const { keptAt, widths, agentKeepsAll, first } = countSearchStart(config, group, agent);
  const maskOf = (kept: number[]) => Array.from({ length: group.size }, (_, c) => (kept.includes(c) ? 1 : 0));
  const probes: CountProbe[] = [];
  let [failing, passing] = [0, group.size];
  let best: { count: number; accuracy: number } | undefined;
  let count = first;
  for (let step = 0; step <= config.relaxSteps && count < group.size && !shouldStop(); step++) {
    const accuracy = await env.evaluate(maskOf(keptAt(count)));
    const withinBudget = accuracy >= floor;
    const drop = 100 * (env.baseAccuracy - accuracy);
    probes.push({ kept: count, lossBeforeFinetune: 100 * (reference - accuracy), validationAccuracy: accuracy, drop, upperBound: drop, withinBudget });
    if (withinBudget) {
      best = { count, accuracy };
      passing = count;
    } else failing = count;
    const next = nextCount(
      config.countSearch,
      config.tighten,
      { failing, passing, size: group.size, agentPassed: agentKeepsAll || probes[0].withinBudget, lastPassed: withinBudget },
      widths,
    );
    if (next === undefined) break;
    count = next;
  }
  if (shouldStop()) throw new InterruptedError(`stopped during group ${group.id}`);
  const relaxed = agentKeepsAll ? probes.length : probes.length - 1;
  const kept = best === undefined ? Array.from({ length: group.size }, (_, c) => c) : keptAt(best.count);
  const model = best === undefined ? await cloneModel(env.model) : await env.prunedModel(kept);
  return { model, kept, probes, validationAccuracy: best?.accuracy ?? reference, relaxed, pathPoints: [] };
}

/**
 * The count search of one group: prune to the agent's own count, recover and
 * fine-tune, check on the selection split; then more or fewer filters along
 * the policy's ranking (nextCount), up to relaxSteps more probes. Returns the
 * smallest count within the budget (its model), or the group whole.
 */
async function searchCount(
  { env, selection, finetune, shouldStop }: GroupSearchContext,
  config: GroupSearchConfig,
  group: ChannelGroup,
  agent: AgentResult,
  { allowedDrop, accuracyBefore, reference }: GroupBudget,
): Promise<CountSearch> {
  const { keptAt, widths, agentKeepsAll, first } = countSearchStart(config, group, agent);
  const probes: CountProbe[] = [];
  // Every probe within the budget, in the order accepted: each keeps fewer filters than the one before; the last is kept.
  const accepted: { count: number; model: tf.LayersModel; validationAccuracy: number }[] = [];
  let [failing, passing] = [0, group.size]; // the largest count known over budget, the smallest known within (all: the group stays whole)
  let count = first;
  for (let step = 0; step <= config.relaxSteps && count < group.size && !shouldStop(); step++) {
    const kept = keptAt(count);
    const model = await env.prunedModel(kept);
    const lossBeforeFinetune = 100 * (reference - (await env.evaluate(Array.from({ length: group.size }, (_, c) => (kept.includes(c) ? 1 : 0)))));
    const tuned = await finetune(model).catch((err: unknown) => {
      // Stopped (Ctrl-C) or failed mid-fine-tune: free this probe's model and those accepted so far.
      model.dispose();
      for (const a of accepted) a.model.dispose();
      throw err;
    });
    const { accuracy: validationAccuracy, drop, upperBound, ...bound } = await selection.check(model, tuned.validationAnswers);
    const withinBudget = selection.accepts({ drop, upperBound, ...bound }, allowedDrop);
    probes.push({ kept: count, lossBeforeFinetune, validationAccuracy, drop, upperBound, withinBudget });
    if (withinBudget) {
      accepted.push({ count, model, validationAccuracy });
      passing = count;
    } else {
      model.dispose();
      failing = count;
    }
    const next = nextCount(
      config.countSearch,
      config.tighten,
      {
        failing,
        passing,
        size: group.size,
        agentPassed: agentKeepsAll || probes[0].withinBudget,
        lastPassed: withinBudget,
      },
      widths,
    );
    if (next === undefined) break;
    count = next;
  }
  if (shouldStop()) {
    for (const a of accepted) a.model.dispose();
    throw new InterruptedError(`stopped during group ${group.id}`);
  }
  const relaxed = agentKeepsAll ? probes.length : probes.length - 1;
  const best = accepted.pop();
  // No probe within its budget: the group stays whole.
  if (best === undefined)
    return {
      model: await cloneModel(env.model),
      kept: Array.from({ length: group.size }, (_, c) => c),
      probes,
      validationAccuracy: accuracyBefore,
      relaxed,
      pathPoints: [],
    };
  // Fall-back points: evenly spaced widths between the kept count and the group whole, pruned, recovered and fine-tuned as a probe is.
  const fallbacks: { count: number; model: tf.LayersModel; source: 'fallback' }[] = [];
  const taken = new Set(accepted.map((a) => a.count));
  for (let step = config.fallbackSteps; step >= 1 && !shouldStop(); step--) {
    const count = roundedUpWidth(best.count + Math.round(((group.size - best.count) * step) / (config.fallbackSteps + 1)), group.size, config.widthMultiple);
    if (count <= best.count || count >= group.size || taken.has(count)) continue;
    taken.add(count);
    const model = await env.prunedModel(keptAt(count));
    await finetune(model).catch((err: unknown) => {
      model.dispose();
      for (const m of [best, ...accepted, ...fallbacks]) m.model.dispose();
      throw err;
    });
    fallbacks.push({ count, model, source: 'fallback' });
  }
  if (shouldStop()) {
    for (const m of [best, ...accepted, ...fallbacks]) m.model.dispose();
    throw new InterruptedError(`stopped during group ${group.id}`);
  }
  const pathPoints = [...fallbacks, ...accepted.map(({ count, model }) => ({ count, model, source: 'accepted probe' as const }))].sort(
    (a, b) => b.count - a.count,
  );
  return { model: best.model, kept: keptAt(best.count), probes, validationAccuracy: best.validationAccuracy, relaxed, pathPoints };
}

const cannotShrink = (group: ChannelGroup, config: GroupSearchConfig) => widthsOf(group.size, config.widthMultiple).length === 1;

/** The decision of a group that cannot shrink: every filter kept, no iteration. */
const keepsWhole = (group: ChannelGroup): AgentResult => ({
  probabilities: new Float32Array(group.size).fill(1),
  kept: Array.from({ length: group.size }, (_, c) => c),
  iterations: [],
  evaluations: 0,
  converged: false,
});

/**
 * A hand-made policy for the control runs: the criterion's scores as the
 * ranking, and half of the group as the count search's first probe.
 */
function criterionPolicy(criterion: CriterionName, scores: Float32Array | undefined, group: { id: number; size: number; producers: string[] }): AgentResult {
  if (scores === undefined)
    throw new CriterionError(`policy ${criterion} cannot rank group ${group.id} (${group.producers.join(', ')}): use a criterion that scores every group`);
  return {
    probabilities: scores,
    kept: topChannels(scores, Math.ceil(group.size / 2)),
    iterations: [],
    evaluations: 0,
    converged: false,
  };
}

/**
 * The next count of the search along the policy's ranking, or undefined when
 * it is done; counts are taken from `widths` (ascending, ending at the
 * group's size; every count by default). bisect: the middle width of the
 * bracket between the largest count known over the budget and the smallest
 * known within it (towards fewer filters only when tightening). halve: keep
 * half of the remaining filters more per step, stop at the first count
 * within the budget (the original relaxation).
 */
export function nextCount(
  mode: 'bisect' | 'halve',
  tighten: boolean,
  s: { failing: number; passing: number; size: number; agentPassed: boolean; lastPassed: boolean },
  widths: number[] = widthsOf(s.size, 1),
): number | undefined {
  if (mode === 'halve') {
    if (s.lastPassed) return undefined;
    const next = widths.find((w) => w >= s.failing + Math.ceil((s.size - s.failing) / 2))!;
    return next >= s.size ? undefined : next;
  }
  if (s.agentPassed && !tighten) return undefined;
  const inside = widths.filter((w) => w > s.failing && w < s.passing);
  // With every count allowed this is ceil((failing + passing) / 2).
  return inside.length === 0 ? undefined : inside[Math.floor(inside.length / 2)];
}
