/**
 * tfjs-core's FusedBatchNorm gradient materialises rsqrt(variance) tiled to the
 * full activation shape before multiplying; on wasm that Tile costs more than
 * the convolutions around it. This gradient is the same formula with
 * broadcasting instead of tiling.
 */
import * as tf from '@tensorflow/tfjs';

function gradFunc(dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) {
  const gradient = dy as tf.Tensor;
  const { varianceEpsilon } = attrs as unknown as { varianceEpsilon: number };
  const [x, mean, variance, savedScale] = saved;
  const scale = savedScale ?? tf.scalar(1);
  const reductionAxes = tf.broadcast_util.getReductionAxes(mean.shape, x.shape);
  // A per-channel (rank-1) mean broadcasts over every other axis; its gradients sum over them.
  const reduce = (t: tf.Tensor) => (mean.rank === 1 ? tf.sum(t, reductionAxes) : t);
  const xMinusMean = tf.sub(x, mean);
  const dyTimesScale = tf.mul(gradient, scale);
  const oneOverSqrtVariance = tf.rsqrt(tf.add(variance, tf.scalar(varianceEpsilon)));
  const minusHalfRCube = tf.mul(tf.pow(oneOverSqrtVariance, 3), tf.scalar(-0.5));
  return {
    x: () => tf.mul(gradient, tf.mul(oneOverSqrtVariance, scale)),
    mean: () => tf.reshape(reduce(tf.mul(tf.neg(oneOverSqrtVariance), dyTimesScale)), mean.shape),
    variance: () => tf.reshape(reduce(tf.mul(tf.mul(minusHalfRCube, xMinusMean), dyTimesScale)), mean.shape),
    scale: () => tf.reshape(reduce(tf.mul(gradient, tf.mul(xMinusMean, oneOverSqrtVariance))), mean.shape),
    offset: () => tf.reshape(reduce(gradient), mean.shape),
  };
}

let registered = false;

export function registerBroadcastingBatchNormGradient(): void {
  if (registered) return;
  tf.unregisterGradient('FusedBatchNorm');
  tf.registerGradient({ kernelName: 'FusedBatchNorm', inputsToSave: ['x', 'mean', 'variance', 'scale'], gradFunc });
  registered = true;
}
