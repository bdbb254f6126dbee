/**
 * The try-and-learn reward (Huang et al. 2018, eq. 2): R = psi * phi.
 *
 *   psi = (b - 100 (p - p_hat)) / b   accuracy term: 1 with no loss, 0 at
 *                                     the tolerance b, negative beyond it
 *   phi = log(N / kept)               efficiency term: grows as filters are
 *                                     removed
 *
 * p is the unpruned network's accuracy, p_hat the pruned candidate's (both
 * fractions, on the same validation subset, so 100 (p - p_hat) is the loss in
 * points), b the accuracy points the user tolerates losing. The FLOPs variant
 * replaces N / kept by MACs before / MACs after, rewarding what actually
 * costs time; the latency variant by the predicted time before / after on
 * the target (a latency table, src/latency/table.ts), rewarding what the
 * target actually spends.
 */
export interface RewardConfig {
  /** b: accuracy points the pruned network may lose. */
  tolerance: number;
  /** filters: phi = log(N / kept), as in the paper; flops: log(MACs / pruned MACs); latency: log(time / pruned time) on the target. */
  phi: 'filters' | 'flops' | 'latency';
}

export interface RewardInput {
  /** p: the unpruned network's accuracy, a fraction. */
  baseAccuracy: number;
  /** p_hat: the candidate's accuracy, a fraction. */
  accuracy: number;
  /** N: channels in the group. */
  total: number;
  /** Channels the candidate keeps (an empty group counts as one). */
  kept: number;
  /** Network MACs per image before and with the candidate, for the flops variant. */
  macs?: { total: number; pruned: number };
  /** Predicted milliseconds per forward pass before and with the candidate, for the latency variant. */
  latency?: { total: number; pruned: number };
}

export function psi(input: Pick<RewardInput, 'baseAccuracy' | 'accuracy'>, tolerance: number): number {
  return (tolerance - 100 * (input.baseAccuracy - input.accuracy)) / tolerance;
}

export function phi(input: RewardInput, kind: RewardConfig['phi']): number {
  if (kind === 'flops') {
    if (input.macs === undefined) throw new Error('the flops reward needs MACs before and after');
    return Math.log(input.macs.total / input.macs.pruned);
  }
  if (kind === 'latency') {
    if (input.latency === undefined) throw new Error('the latency reward needs predicted times before and after');
    return Math.log(input.latency.total / input.latency.pruned);
  }
  return Math.log(input.total / Math.max(1, input.kept));
}

export function reward(input: RewardInput, config: RewardConfig): number {
  return psi(input, config.tolerance) * phi(input, config.phi);
}
