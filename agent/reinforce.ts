/**
 * REINFORCE for one channel group (try-and-learn's inner loop): sample keep
 * masks from the policy, score each by pruning the network for real, and move
 * the policy towards the masks that beat the batch's mean reward. Stops when
 * the greedy mask (p > 0.5) has not changed for `patience` iterations (after
 * `minIterations`), or at `maxIterations`.
 *
 * Learning has two phases under the paper's reward: while sampled masks often
 * cost more than the tolerance, every drop is punished and all keep
 * probabilities rise together (the greedy mask keeps everything and does not
 * change); once the essential filters are reliably kept, drops of useless ones
 * are rewarded and their probabilities fall. The minimum iteration count keeps
 * the first phase's stable greedy mask from ending the search. A slow learning
 * rate matters: a fast one saturates every probability at 1 in the first
 * phase, after which no mask ever differs again.
 */
import seedrandom from 'seedrandom';
import type { PruningEnv } from '../env/pruning-env.js';
import { keptIndices } from '../env/pruning-env.js';
import { yieldToEventLoop } from '../src/event-loop.js';
import { meanEntropy, type PolicyConfig, PolicyNetwork } from './policy.js';

export interface AgentConfig extends PolicyConfig {
  /** Masks sampled per iteration (the paper's M). */
  samplesPerIteration: number;
  /** Iterations at most per group. */
  maxIterations: number;
  /** Stop once the greedy mask has been the same for this many iterations... */
  patience: number;
  /** ...once at least this many iterations have run. */
  minIterations: number;
  /** Divide advantages by the batch's reward spread, so small late-stage reward differences still teach. */
  normalizeAdvantages: boolean;
  /** Score each iteration's candidates on the first images, the better half on the rest (see RaceConfig). */
  race: RaceConfig;
}

/**
 * Racing (one round of successive halving): every candidate of an iteration
 * is scored on the first `firstImages` reward images; the better half by
 * reward there (ceil(M / 2), ties to the earlier sample) are scored on the
 * rest, and the others keep their first score. Those are the candidates
 * below the batch's middle, whose advantages are most likely negative
 * anyway; what a full score would change is recorded when `audit` is on.
 */
export interface RaceConfig {
  enabled: boolean;
  /** Reward images every candidate is scored on, rounded up to whole evaluation batches; no race when that is the whole subset. */
  firstImages: number;
  /** Also score the dropped candidates on the rest, to record how many advantages would change sign (costs what racing saves; the update still uses the raced scores). */
  audit: boolean;
}

export const DEFAULT_AGENT_CONFIG: AgentConfig = {
  samplesPerIteration: 5,
  maxIterations: 250,
  patience: 15,
  minIterations: 150,
  normalizeAdvantages: true,
  race: { enabled: false, firstImages: 256, audit: false },
  hidden: 64,
  learningRate: 0.003,
  initialKeep: 0.9,
  entropyBonus: 0,
};

/** What one iteration did; stable names, recorded for every iteration. */
export interface IterationRecord {
  iteration: number;
  meanReward: number;
  bestReward: number;
  /** Mean accuracy (fraction, reward subset) of the sampled masks. */
  meanAccuracy: number;
  /** Mean channels kept by the sampled masks. */
  meanKept: number;
  /** Channels the greedy mask keeps (p > 0.5). */
  greedyKept: number;
  entropy: number;
  /** Reward images the iteration's candidates were scored on, summed (racing scores fewer; absent in records from before 2026-12-07). */
  imagesScored?: number;
  /** With racing's audit: advantages whose sign the full scores would have changed. */
  raceSignFlips?: number;
  seconds: number;
}

export interface AgentResult {
  /** Final keep probabilities. */
  probabilities: Float32Array;
  /** Channels to keep: p > 0.5 (the most probable one if none is). */
  kept: number[];
  iterations: IterationRecord[];
  /** Candidate networks evaluated. */
  evaluations: number;
  /** Whether the search stopped because the greedy mask settled (false: it ran out of iterations, or was stopped). */
  converged: boolean;
}

export function greedyKeep(probabilities: ArrayLike<number>): number[] {
  const kept = keptIndices(Array.from(probabilities, (p) => (p > 0.5 ? 1 : 0)));
  if (kept.length > 0) return kept;
  let best = 0;
  for (let i = 1; i < probabilities.length; i++) if (probabilities[i] > probabilities[best]) best = i;
  return [best];
}

export async function trainAgent(
  env: PruningEnv,
  config: AgentConfig,
  seed: number,
  onIteration: (record: IterationRecord) => void = () => {},
  shouldStop: () => boolean = () => false,
): Promise<AgentResult> {
  const observation = env.observation();
  const policy = new PolicyNetwork(env.observationBlocks(), config, seed);
  const rng = seedrandom(`${seed}-actions`);
  const iterations: IterationRecord[] = [];
  let previousGreedy = '';
  let unchanged = 0;
  let evaluations = 0;
  let converged = false;
  try {
    for (let iteration = 1; iteration <= config.maxIterations && !shouldStop(); iteration++) {
      const started = performance.now();
      const p = policy.probabilities(observation);
      const masks = Array.from({ length: config.samplesPerIteration }, () => Uint8Array.from(p, (q) => (rng() < q ? 1 : 0)));
      const { accuracies, imagesScored, fullAccuracies } = await scoreCandidates(env, masks, config.race);
      evaluations += masks.length;
      const rewards = masks.map((mask, k) => env.reward(accuracies[k], mask));
      const meanReward = rewards.reduce((a, b) => a + b, 0) / rewards.length; // subtracted from each reward: the variance-reducing reference of REINFORCE
      const spread = Math.sqrt(rewards.reduce((s, r) => s + (r - meanReward) ** 2, 0) / rewards.length);
      const scale = config.normalizeAdvantages ? 1 / (spread + 1e-6) : 1;
      policy.update(
        observation,
        masks,
        rewards.map((r) => (r - meanReward) * scale),
      );
      const raceSignFlips =
        fullAccuracies &&
        signFlips(
          rewards,
          masks.map((mask, k) => env.reward(fullAccuracies[k], mask)),
        );
      const updated = policy.probabilities(observation);
      const greedy = greedyKeep(updated);
      const key = greedy.join(',');
      unchanged = key === previousGreedy ? unchanged + 1 : 0;
      previousGreedy = key;
      const record: IterationRecord = {
        iteration,
        meanReward,
        bestReward: Math.max(...rewards),
        meanAccuracy: accuracies.reduce((a, b) => a + b, 0) / accuracies.length,
        meanKept: masks.reduce((sum, m) => sum + keptIndices(m).length, 0) / masks.length,
        greedyKept: greedy.length,
        entropy: meanEntropy(updated),
        imagesScored,
        ...(raceSignFlips !== undefined && { raceSignFlips }),
        seconds: (performance.now() - started) / 1000,
      };
      iterations.push(record);
      onIteration(record);
      await yieldToEventLoop();
      if (unchanged >= config.patience && iteration >= config.minIterations) {
        converged = true;
        break;
      }
    }
    const probabilities = policy.probabilities(observation);
    return { probabilities, kept: greedyKeep(probabilities), iterations, evaluations, converged };
  } finally {
    policy.dispose();
  }
}

/** The candidates' accuracies, raced when `race` is on (RaceConfig); with its audit, every candidate's full accuracy too. */
export async function scoreCandidates(
  env: PruningEnv,
  masks: Uint8Array[],
  race: RaceConfig,
): Promise<{ accuracies: number[]; imagesScored: number; fullAccuracies?: number[] }> {
  const total = env.rewardImageCount;
  const first = Math.ceil(race.firstImages / env.evaluationBatchSize) * env.evaluationBatchSize;
  if (!race.enabled || first >= total) return { accuracies: await env.evaluateAll(masks), imagesScored: masks.length * total };
  const head = await env.evaluateAll(masks, { from: 0, to: first });
  const byReward = masks.map((_, k) => k).sort((a, b) => env.reward(head[b], masks[b]) - env.reward(head[a], masks[a]) || a - b);
  const finalists = new Set(byReward.slice(0, Math.ceil(masks.length / 2)));
  const rest = masks.map((_, k) => k).filter((k) => race.audit || finalists.has(k));
  const tail = await env.evaluateAll(
    rest.map((k) => masks[k]),
    { from: first, to: total },
  );
  const full = new Map(rest.map((k, i) => [k, (head[k] * first + tail[i] * (total - first)) / total]));
  const accuracies = head.map((accuracy, k) => (finalists.has(k) ? full.get(k)! : accuracy));
  const imagesScored = masks.length * first + rest.length * (total - first);
  return { accuracies, imagesScored, ...(race.audit && { fullAccuracies: head.map((_, k) => full.get(k)!) }) };
}

/** Advantages (reward minus the batch's mean) whose sign differs between two scorings of the same candidates. */
function signFlips(raced: number[], full: number[]): number {
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const [m, f] = [mean(raced), mean(full)];
  return raced.filter((r, k) => Math.sign(r - m) !== Math.sign(full[k] - f)).length;
}
