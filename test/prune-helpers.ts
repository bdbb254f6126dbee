/** Fixtures for the pruning tests: random weights, random plans, and the zeroed reference model. */
import * as tf from '@tensorflow/tfjs';
import seedrandom from 'seedrandom';
import type { DependencyGraph } from '../src/prune/graph.js';
import type { KeepPlan } from '../src/prune/surgery.js';

/**
 * Fills every weight with seeded random values, kernels scaled by their fan-in
 * so that deep models do not saturate their softmax; BN variances stay positive.
 */
export function randomizeWeights(model: tf.LayersModel, seed = 1): void {
  let i = 0;
  for (const layer of model.layers) {
    if (layer.weights.length === 0) continue;
    const names = layer.weights.map((w) => w.name);
    layer.setWeights(
      layer.getWeights().map(({ shape }, k) => {
        const fanIn = shape.length > 1 ? shape.slice(0, -1).reduce((a, b) => a * b, 1) : 4;
        const values = tf.randomNormal(shape, 0, 1 / Math.sqrt(fanIn), 'float32', seed * 1000 + i++);
        return names[k].includes('moving_variance') ? tf.tidy(() => values.abs().add(0.5)) : values;
      }),
    );
  }
}

/** Keeps a random subset (at least one channel) of every prunable group. */
export function randomPlan(graph: DependencyGraph, seed = 'plan', fraction = 0.5): KeepPlan {
  const rng = seedrandom(seed);
  const plan: KeepPlan = new Map();
  for (const group of graph.prunableGroups()) {
    const kept = Array.from({ length: group.size }, (_, c) => c).filter(() => rng() < fraction);
    plan.set(group.id, kept.length > 0 ? kept : [Math.floor(rng() * group.size)]);
  }
  return plan;
}

/** Zeroes `positions` of `weight` along `axis`. */
function zeroAlong(weight: tf.Tensor, axis: number, positions: number[]): tf.Tensor {
  return tf.tidy(() => {
    const mask = new Float32Array(weight.shape[axis]).fill(1);
    for (const p of positions) mask[p] = 0;
    const shape = weight.shape.map((d, i) => (i === axis ? d : 1));
    return tf.mul(weight, tf.tensor(mask, shape));
  });
}

/**
 * A copy of the model in which every removed channel outputs exactly zero:
 * its producers' kernels and biases are zeroed, and so are the BatchNorm
 * scale and offset (and depthwise bias) on it. Consumers are left alone, so
 * this reference does not depend on how surgery maps consumer inputs
 * (flatten interleaving, concat offsets).
 */
export async function zeroedReference(model: tf.LayersModel, graph: DependencyGraph, plan: KeepPlan): Promise<tf.LayersModel> {
  const copy = await tf.models.modelFromJSON({ modelTopology: model.toJSON(null, false) as never });
  const removed = (refs: { space: number; index: number }[]) =>
    refs.flatMap((ref, p) => {
      const group = graph.groupOf(ref);
      const kept = group === undefined ? undefined : plan.get(group.id);
      return kept !== undefined && !kept.includes(ref.index) ? [p] : [];
    });
  for (const layer of copy.layers) {
    const node = graph.nodes.get(layer.name)!;
    const weights = node.layer.getWeights().map((w) => w.clone());
    const names = node.layer.weights.map((w) => w.name.split('/').pop()!.replace(/_\d+$/, ''));
    const outRemoved = removed(node.outputRefs);
    const set = (key: string, axis: number) => {
      const i = names.indexOf(key);
      if (i >= 0) weights[i] = zeroAlong(weights[i], axis, outRemoved);
    };
    if (node.kind === 'producer') {
      set(node.className === 'SeparableConv2D' ? 'pointwise_kernel' : 'kernel', node.className === 'Dense' ? 1 : 3);
      set('bias', 0);
    } else if (node.className === 'BatchNormalization') {
      set('gamma', 0);
      set('beta', 0);
    } else if (node.className === 'DepthwiseConv2D') {
      set('bias', 0);
    }
    if (weights.length > 0) layer.setWeights(weights);
  }
  return copy;
}

/** Max |a(x) - b(x)| over a seeded random batch. */
export async function maxOutputDiff(a: tf.LayersModel, b: tf.LayersModel, batch = 4): Promise<number> {
  const shape = (a.inputs[0].shape as number[]).slice(1);
  const x = tf.randomNormal([batch, ...shape], 0, 1, 'float32', 42);
  const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(a.predict(x) as tf.Tensor, b.predict(x) as tf.Tensor))));
  const value = (await diff.data())[0];
  tf.dispose([x, diff]);
  return value;
}
