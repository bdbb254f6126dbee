/**
 * ReLU6 (MobileNet's activation) as one kernel each way on wasm.
 *
 * tfjs-layers computes the `relu6` activation as minimum(6, relu(x)), so a
 * training step runs Relu and Minimum forward and Greater, Cast, Mul, Step,
 * Mul backward: seven passes over the activation, about a fifth of a
 * mobilenet-small training step. Here the forward pass is the backend's Relu6
 * kernel (the same values) and the backward pass one loop on the wasm heap,
 * dx = dy times (0 < x < 6): the gradient minimum(6, relu(x)) has, so training
 * gives the same weights as before (a NaN activation, where training has
 * diverged anyway, gives 0 here and 6 there).
 */
import * as tf from '@tensorflow/tfjs';
import { heapFloats, type KernelArgs, type WasmBackendLike } from './wasm-kernels.js';

const BACKWARD = 'AutopruneRelu6Grad';

function backwardKernel({ inputs, backend }: KernelArgs): tf.TensorInfo {
  const heap = backend as WasmBackendLike;
  const { dy, x } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
  const dx = heap.makeOutput(x.shape, 'float32');
  const [dys, xs, dxs] = [dy, x, dx].map((t) => heapFloats(heap, t));
  // A multiply by the 0/1 mask, not a branch: activations straddle 0 at random, and a
  // mispredicted branch per element made this loop 10x slower. dy * 0 is NaN for a NaN dy, as in tfjs.
  for (let i = 0; i < xs.length; i++) {
    const value = xs[i];
    dxs[i] = dys[i] * (Number(value > 0) & Number(value < 6));
  }
  return dx;
}

const fusedRelu6 = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  save([x]);
  return {
    value: tf.relu6(x),
    gradFunc: (dy: tf.Tensor, [saved]: tf.Tensor[]) => tf.engine().runKernel(BACKWARD, { dy, x: saved }, {}) as tf.Tensor,
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]);

let registered = false;

/** Registers the gradient kernel on wasm and routes the layers' `relu6` activation through the fused pair there. */
export function registerFusedRelu6(): void {
  if (registered) return;
  tf.registerKernel({ kernelName: BACKWARD, backendName: 'wasm', kernelFunc: backwardKernel as unknown as tf.KernelFunc });
  const entry = tf.serialization.SerializationMap.getMap().classNameMap.relu6;
  if (entry === undefined) throw new Error('tfjs-layers registers no relu6 activation');
  const prototype = (entry[0] as unknown as { prototype: { apply: (x: tf.Tensor) => tf.Tensor } }).prototype;
  const stockApply = prototype.apply;
  prototype.apply = function (x: tf.Tensor) {
    if (tf.getBackend() !== 'wasm' || x.dtype !== 'float32') return stockApply.call(this, x);
    return fusedRelu6(x) as tf.Tensor;
  };
  registered = true;
}
