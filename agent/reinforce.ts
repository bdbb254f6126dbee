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
}

export const DEFAULT_AGENT_CONFIG: AgentConfig = {
  samplesPerIteration: 5,
  maxIterations: 250,
  patience: 15,
  minIterations: 150,
  normalizeAdvantages: true,
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
      const accuracies = await env.evaluateAll(masks);
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
