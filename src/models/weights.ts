/** Finding a layer's weights by role ("kernel", "bias", "gamma", ...) whatever scope TF.js named them in. */
import type * as tf from '@tensorflow/tfjs';

/** "conv1/kernel" -> "kernel"; "kernel_3" (a uniquified standalone name) -> "kernel". */
export const weightKey = (variable: tf.LayerVariable): string => (variable.originalName ?? variable.name).split('/').pop()!.replace(/_\d+$/, '');

export function layerWeight(layer: tf.layers.Layer, key: string): tf.LayerVariable | undefined {
  return layer.weights.find((w) => weightKey(w) === key);
}
