/**
 * BatchNormalization in training mode as two fused kernels on wasm.
 *
 * tfjs-layers normalises a training batch with tf.moments and tf.batchNorm:
 * about 5 kernels forward and 20 backward (broadcast multiplies, reductions,
 * copies), each a pass over the whole activation. On wasm they cost more than
 * a third of a vgg-small training step. The same maths in single passes over
 * the wasm heap (float64 sums), cut into blocks that the heap pool spreads
 * over the wasm threads (heap-blocks.ts; each block's sums added in block order):
 *
 *   forward:  mean, variance (biased, as tf.moments), y = gamma (x - mean) / sqrt(variance + eps) + beta
 *   backward: xhat = (x - mean) / sqrt(variance + eps), dbeta = sum dy, dgamma = sum dy xhat,
 *             dx = gamma / sqrt(variance + eps) / N * (N dy - dbeta - xhat dgamma)
 *
 * Only the training path of layers normalising the last axis with both
 * gamma and beta changes, and only on wasm; the moving averages are updated
 * exactly as tfjs-layers does.
 */
import * as tf from '@tensorflow/tfjs';
import { BLOCK_KERNEL, blocksFor, blockTotals } from './heap-blocks.js';
import { runBlocks } from './heap-pool.js';
import { heapBuffer, heapFloats, heapOffset, heapScratch, type KernelArgs, type WasmBackendLike } from './wasm-kernels.js';

type TensorInfo = tf.TensorInfo;

const FORWARD = 'AutopruneBatchNormTraining';
const BACKWARD = 'AutopruneBatchNormTrainingGrad';

/** Inputs x [..., C], gamma [C], beta [C]; outputs y, mean [C], variance [C], invStd [C]. */
function forwardKernel({ inputs, backend, attrs }: KernelArgs): TensorInfo[] {
  const heap = backend as WasmBackendLike;
  const { x, gamma, beta } = inputs as { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo };
  const { epsilon } = attrs as unknown as { epsilon: number };
  const channels = x.shape[x.shape.length - 1];
  const elements = tf.util.sizeFromShape(x.shape);
  const count = elements / channels;
  const blocks = blocksFor(elements, count);
  const y = heap.makeOutput(x.shape, 'float32');
  const mean = heap.makeOutput([channels], 'float32');
  const variance = heap.makeOutput([channels], 'float32');
  const invStd = heap.makeOutput([channels], 'float32');
  const partials = heapScratch(heap, 2 * channels * blocks);
  const coefficients = heapScratch(heap, 2 * channels);
  const [xAt, yAt, partialsAt, coefficientsAt] = [x, y, partials, coefficients].map((t) => heapOffset(heap, t));
  runBlocks(heapBuffer(heap), BLOCK_KERNEL.batchNormSums, [xAt, elements, channels, partialsAt], blocks);
  const totals = blockTotals(heapBuffer(heap), partialsAt, 2 * channels, blocks);
  const [sums, squares] = [totals.subarray(0, channels), totals.subarray(channels)];
  const [means, variances, invStds, gammas, betas] = [mean, variance, invStd, gamma, beta].map((t) => heapFloats(heap, t));
  const scaleShift = new Float64Array(heapBuffer(heap), coefficientsAt, 2 * channels);
  for (let c = 0; c < channels; c++) {
    const m = sums[c] / count;
    const v = Math.max(0, squares[c] / count - m * m);
    means[c] = m;
    variances[c] = v;
    invStds[c] = 1 / Math.sqrt(v + epsilon);
    scaleShift[c] = gammas[c] * invStds[c];
    scaleShift[channels + c] = betas[c] - m * scaleShift[c];
  }
  runBlocks(heapBuffer(heap), BLOCK_KERNEL.batchNormApply, [xAt, elements, channels, yAt, coefficientsAt], blocks);
  heap.disposeData(partials.dataId);
  heap.disposeData(coefficients.dataId);
  return [y, mean, variance, invStd];
}

/** Inputs dy, x, gamma, mean, invStd; outputs dx, dgamma, dbeta. */
function backwardKernel({ inputs, backend }: KernelArgs): TensorInfo[] {
  const heap = backend as WasmBackendLike;
  const { dy, x, gamma, mean, invStd } = inputs as Record<'dy' | 'x' | 'gamma' | 'mean' | 'invStd', TensorInfo>;
  const channels = x.shape[x.shape.length - 1];
  const elements = tf.util.sizeFromShape(x.shape);
  const count = elements / channels;
  const blocks = blocksFor(elements, count);
  const dx = heap.makeOutput(x.shape, 'float32');
  const dgamma = heap.makeOutput([channels], 'float32');
  const dbeta = heap.makeOutput([channels], 'float32');
  const partials = heapScratch(heap, 2 * channels * blocks);
  const coefficients = heapScratch(heap, 3 * channels);
  const [dyAt, xAt, dxAt, meanAt, invStdAt, partialsAt, coefficientsAt] = [dy, x, dx, mean, invStd, partials, coefficients].map((t) => heapOffset(heap, t));
  runBlocks(heapBuffer(heap), BLOCK_KERNEL.batchNormGradSums, [dyAt, xAt, elements, channels, meanAt, invStdAt, partialsAt], blocks);
  const totals = blockTotals(heapBuffer(heap), partialsAt, 2 * channels, blocks);
  const [sumDy, sumDyXhat] = [totals.subarray(0, channels), totals.subarray(channels)];
  const [dgammas, dbetas, gammas, invStds] = [dgamma, dbeta, gamma, invStd].map((t) => heapFloats(heap, t));
  // factor, mean dy, mean dy xhat per channel
  const terms = new Float64Array(heapBuffer(heap), coefficientsAt, 3 * channels);
  for (let c = 0; c < channels; c++) {
    dgammas[c] = sumDyXhat[c];
    dbetas[c] = sumDy[c];
    terms[c] = gammas[c] * invStds[c];
    terms[channels + c] = sumDy[c] / count;
    terms[2 * channels + c] = sumDyXhat[c] / count;
  }
  runBlocks(heapBuffer(heap), BLOCK_KERNEL.batchNormGradApply, [dyAt, xAt, dxAt, elements, channels, meanAt, invStdAt, coefficientsAt], blocks);
  heap.disposeData(partials.dataId);
  heap.disposeData(coefficients.dataId);
  return [dx, dgamma, dbeta];
}

/**
 * Normalises a training batch over every axis but the last; returns y and,
 * outside any gradient, the batch mean and variance (kept: the caller disposes them).
 */
function normalizeTrainingBatch(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number) {
  let stats: tf.Tensor[] = [];
  const forward = (xIn: tf.Tensor, gammaIn: tf.Tensor, betaIn: tf.Tensor, save: tf.GradSaveFunc) => {
    const [y, mean, variance, invStd] = tf.engine().runKernel(FORWARD, { x: xIn, gamma: gammaIn, beta: betaIn }, { epsilon }) as unknown as tf.Tensor[];
    stats = [tf.keep(mean.clone()), tf.keep(variance.clone())];
    save([xIn, gammaIn, mean, invStd]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [xSaved, gammaSaved, meanSaved, invStdSaved] = saved;
        return tf
          .engine()
          .runKernel(BACKWARD, { dy: dy as tf.Tensor, x: xSaved, gamma: gammaSaved, mean: meanSaved, invStd: invStdSaved }, {}) as unknown as tf.Tensor[];
      },
    };
  };
  const y = tf.customGrad(forward as unknown as Parameters<typeof tf.customGrad>[0])(x, gamma, beta);
  return { y, mean: stats[0], variance: stats[1] };
}

interface BatchNormLayer {
  axis: number;
  momentum: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
  gamma: tf.LayerVariable;
  beta: tf.LayerVariable;
  movingMean: tf.LayerVariable;
  movingVariance: tf.LayerVariable;
}

let registered = false;

/** Registers the kernels on wasm and routes BatchNormalization's training path through them there. */
export function registerFusedBatchNormTraining(): void {
  if (registered) return;
  tf.registerKernel({ kernelName: FORWARD, backendName: 'wasm', kernelFunc: forwardKernel as unknown as tf.KernelFunc });
  tf.registerKernel({ kernelName: BACKWARD, backendName: 'wasm', kernelFunc: backwardKernel as unknown as tf.KernelFunc });
  const prototype = Object.getPrototypeOf(tf.layers.batchNormalization({})) as {
    call: (inputs: tf.Tensor | tf.Tensor[], kwargs: tf.serialization.ConfigDict) => tf.Tensor;
  };
  const stockCall = prototype.call;
  prototype.call = function (this: BatchNormLayer, inputs, kwargs) {
    const input = Array.isArray(inputs) ? inputs[0] : inputs;
    const lastAxis = this.axis === -1 || this.axis === input.shape.length - 1;
    if (kwargs?.training !== true || tf.getBackend() !== 'wasm' || !lastAxis || !this.center || !this.scale || input.dtype !== 'float32') {
      return stockCall.call(this, inputs, kwargs);
    }
    return tf.tidy(() => {
      const { y, mean, variance } = normalizeTrainingBatch(input, this.gamma.read(), this.beta.read(), this.epsilon);
      // tfjs-layers' moving average: moving -= (moving - batch) * (1 - momentum).
      for (const [variable, value] of [
        [this.movingMean, mean],
        [this.movingVariance, variance],
      ] as const) {
        tf.tidy(() => {
          const current = variable.read();
          variable.write(tf.sub(current, tf.mul(tf.sub(current, value), 1 - this.momentum)));
        });
      }
      tf.dispose([mean, variance]);
      return y;
    });
  };
  registered = true;
}
