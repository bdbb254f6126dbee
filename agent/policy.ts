/**
 * The pruning agent's policy network: reads a group's filters (an N x M array)
 * and outputs one keep probability per filter. It works for any N: a
 * per-filter encoder shared across filters, plus the layer context (the mean
 * of the encoded filters, as in Deep Sets) so each decision sees the others.
 *
 *   h_i   = relu(W1 x_i + b1)                 encoded filter i
 *   c     = mean_i h_i                        layer context
 *   z_i   = relu(W2 [h_i ; c] + b2)
 *   p_i   = sigmoid(w3 . z_i + b3)            keep probability
 *
 * One policy is trained per channel group (its M is that group's fan-in), as
 * in the paper's layer-by-layer agents.
 */
import * as tf from '@tensorflow/tfjs';

export interface PolicyConfig {
  /** Width of the per-filter encoder and of the decision layer. */
  hidden: number;
  /** Adam learning rate of the policy. */
  learningRate: number;
  /** Keep probability of every filter before training (sets the output bias). */
  initialKeep: number;
  /** Weight of the entropy bonus added to the policy-gradient objective (0 = plain REINFORCE). */
  entropyBonus: number;
}

export class PolicyNetwork {
  private readonly variables: tf.Variable[];
  private readonly optimizer: tf.AdamOptimizer;

  /**
   * @param inputBlocks column counts of the observation's parts (e.g. filter
   *   weights, read norm, criteria scores); each part gets an equal share of
   *   the first layer's initial variance, so a few criteria columns are not
   *   drowned by hundreds of weight columns.
   */
  constructor(
    inputBlocks: number[],
    readonly config: PolicyConfig,
    seed: number,
  ) {
    const { hidden } = config;
    const normal = (shape: number[], fanIn: number, k: number) => tf.randomNormal(shape, 0, Math.sqrt(2 / fanIn), 'float32', seed * 31 + k);
    const bias = Math.log(config.initialKeep / (1 - config.initialKeep));
    // tidy frees the initial values; the variables keep their own references.
    this.variables = tf.tidy(() => [
      tf.variable(
        tf.concat(
          inputBlocks.map((size, b) => normal([size, hidden], size * inputBlocks.length, 10 + b)),
          0,
        ),
      ),
      tf.variable(tf.zeros([hidden])),
      tf.variable(normal([2 * hidden, hidden], 2 * hidden, 2)),
      tf.variable(tf.zeros([hidden])),
      tf.variable(tf.mul(normal([hidden, 1], hidden, 3), 0.1)), // small: start near the prior
      tf.variable(tf.fill([1], bias)),
    ]);
    this.optimizer = tf.train.adam(config.learningRate);
  }

  /** Keep logits, one per filter ([N]). */
  private logits(observation: tf.Tensor2D): tf.Tensor1D {
    const [w1, b1, w2, b2, w3, b3] = this.variables;
    const h = tf.relu(tf.add(tf.matMul(observation, w1), b1));
    const context = tf.mean(h, 0, true);
    const z = tf.relu(tf.add(tf.matMul(tf.concat([h, tf.tile(context, [h.shape[0], 1])], 1), w2), b2));
    return tf.reshape(tf.add(tf.matMul(z, w3), b3), [-1]) as tf.Tensor1D;
  }

  probabilities(observation: tf.Tensor2D): Float32Array {
    const p = tf.tidy(() => tf.sigmoid(this.logits(observation)));
    const values = p.dataSync() as Float32Array;
    p.dispose();
    return values;
  }

  /**
   * One REINFORCE step: ascend mean_k A_k * log pi(mask_k) / N (+ entropy bonus),
   * where A_k is each sampled mask's advantage (reward minus its iteration's mean reward).
   */
  update(observation: tf.Tensor2D, masks: Uint8Array[], advantages: number[]): void {
    tf.tidy(() => {
      const actions = tf.tensor2d(
        masks.map((m) => Array.from(m)),
        [masks.length, masks[0].length],
      );
      const weights = tf.tensor2d(advantages, [advantages.length, 1]);
      const n = masks[0].length;
      this.optimizer.minimize(
        () => {
          const logits = this.logits(observation);
          const p = tf.sigmoid(logits);
          // log p = -softplus(-l) and log(1 - p) = -softplus(l) stay finite when p saturates.
          const logKeep = tf.neg(tf.softplus(tf.neg(logits)));
          const logDrop = tf.neg(tf.softplus(logits));
          const logProb = tf.add(tf.mul(actions, logKeep), tf.mul(tf.sub(1, actions), logDrop)); // [K, N]
          const objective = tf.div(tf.mean(tf.sum(tf.mul(logProb, weights), 1)), n);
          const entropy = tf.neg(tf.mean(tf.add(tf.mul(p, logKeep), tf.mul(tf.sub(1, p), logDrop))));
          return tf.neg(tf.add(objective, tf.mul(this.config.entropyBonus, entropy))) as tf.Scalar;
        },
        false,
        this.variables,
      );
    });
  }

  dispose(): void {
    tf.dispose(this.variables);
    this.optimizer.dispose();
  }
}

/** Mean Bernoulli entropy (nats) of the keep probabilities. */
export function meanEntropy(p: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < p.length; i++) {
    const q = Math.min(Math.max(p[i], 1e-7), 1 - 1e-7);
    sum -= q * Math.log(q) + (1 - q) * Math.log(1 - q);
  }
  return sum / p.length;
}
