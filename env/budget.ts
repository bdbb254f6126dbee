/**
 * How the accuracy budget b is spent across groups, and how much of a
 * candidate's loss before fine-tuning the reward may accept.
 *
 * - By cost: after group g, the fine-tuned drop may reach b times the share of
 *   the network's MACs that groups 1..g touch (producers and consumers), so
 *   cheap early groups cannot use up the tolerance before the expensive ones;
 *   what a group leaves unused passes on to the next.
 * - Calibrated: a candidate is scored before fine-tuning, which recovers much
 *   of what pruning cost. The recovery measured on the decisions already made
 *   (points lost before fine-tuning / points lost after) turns a group's
 *   remaining budget into the reward's tolerance.
 */
import type { ChannelGroup, DependencyGraph } from '../src/prune/graph.js';
import { layerMacs } from '../src/prune/metrics.js';

export interface BudgetConfig {
  /** Spend the tolerance across groups by the MACs each touches (false: every group may use all of it). */
  byCost: boolean;
  /** Set the reward's tolerance per group from the measured recovery (false: rewardTolerance, or the tolerance, as in the paper). */
  calibrate: boolean;
  /** Recovery assumed for the first group, before any fine-tune was measured. */
  initialRecovery: number;
  /** Upper bound on the recovery estimate (fine-tuning can recover everything, which would make it infinite). */
  maxRecovery: number;
}

/** A pruning decision's loss on the reward subset before fine-tuning, and on the guarantee split after, in points. */
export interface RecoveryObservation {
  before: number;
  after: number;
}

/** Share of the network's MACs each group touches (its layers counted once per group), normalised over the groups. */
export function costShares(graph: DependencyGraph, groups: ChannelGroup[]): Map<number, number> {
  const touched = groups.map((g) => {
    const layers = new Set(g.members.filter((m) => m.role !== 'channel').map((m) => m.layer));
    return [...layers].reduce((sum, name) => sum + layerMacs(graph.node(name).layer), 0);
  });
  const total = touched.reduce((a, b) => a + b, 0);
  return new Map(groups.map((g, i) => [g.id, total > 0 ? touched[i] / total : 1 / groups.length]));
}

/** The drop (points) allowed after each group, in order: cumulative shares of b, or b throughout. */
export function cumulativeBudgets(tolerance: number, groups: ChannelGroup[], shares: Map<number, number>, byCost: boolean): number[] {
  let cumulative = 0;
  return groups.map((g, i) => {
    cumulative += shares.get(g.id)!;
    return !byCost || i === groups.length - 1 ? tolerance : tolerance * Math.min(1, cumulative);
  });
}

/**
 * Points lost before fine-tuning per point lost after, pooled over the
 * observations; losses after fine-tuning are counted as at least `floor`
 * each, so noise around zero cannot make the estimate explode.
 */
export function estimateRecovery(observations: RecoveryObservation[], config: Pick<BudgetConfig, 'initialRecovery' | 'maxRecovery'>, floor: number): number {
  if (observations.length === 0) return config.initialRecovery;
  const before = observations.reduce((sum, o) => sum + Math.max(0, o.before), 0);
  const after = observations.reduce((sum, o) => sum + Math.max(floor, o.after), 0);
  return Math.min(config.maxRecovery, Math.max(1, before / after));
}
