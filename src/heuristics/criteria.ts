/**
 * What to prune: scoring functions from a channel group to one score per
 * channel (higher = more important). Weight criteria read the kernels of all
 * of the group's producers, so a residual group is scored as one.
 */
import * as tf from '@tensorflow/tfjs';
import type { ChannelGroup, DependencyGraph } from '../prune/graph.js';

/** The output-channel kernel of a producer: last axis = output channels. */
function producerKernel(graph: DependencyGraph, layerName: string): tf.Tensor {
  const node = graph.node(layerName);
  const key = node.className === 'SeparableConv2D' ? 'pointwise_kernel' : 'kernel';
  const variable = node.layer.weights.find((w) => (w.originalName ?? w.name).split('/').pop() === key);
  if (variable === undefined) throw new Error(`layer "${layerName}" has no ${key}`);
  return variable.read();
}

/** Sums a per-element function of every producer kernel over all axes but the output one. */
function kernelReduce(graph: DependencyGraph, group: ChannelGroup, perElement: (w: tf.Tensor) => tf.Tensor): Float32Array {
  const scores = tf.tidy(() =>
    group.producers
      .map((name) => {
        const kernel = producerKernel(graph, name);
        return tf.sum(perElement(kernel), kernel.shape.slice(0, -1).map((_, axis) => axis));
      })
      .reduce((a, b) => tf.add(a, b)),
  );
  const values = scores.dataSync() as Float32Array;
  scores.dispose();
  return values;
}

/** Li et al. 2017: sum of absolute filter weights. */
export function l1Norm(graph: DependencyGraph, group: ChannelGroup): Float32Array {
  return kernelReduce(graph, group, tf.abs);
}

/** Euclidean norm of the filter (all producers' filters concatenated). */
export function l2Norm(graph: DependencyGraph, group: ChannelGroup): Float32Array {
  return kernelReduce(graph, group, tf.square).map(Math.sqrt);
}

/** Indices of the `keep` highest scores, in ascending channel order (ties keep the lower index). */
export function topChannels(scores: ArrayLike<number>, keep: number): number[] {
  const order = Array.from(scores, (_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
  return order.slice(0, keep).sort((a, b) => a - b);
}
