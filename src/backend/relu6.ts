/**
 * ReLU6 (MobileNet's activation) as one kernel each way on wasm.
 *
 * tfjs-layers has two forms of it. The `relu6` activation computes
 * minimum(6, relu(x)): Relu and Minimum forward, Greater, Cast, Mul, Step and
 * Mul backward, seven passes over the activation, about a fifth of a
 * mobilenet-small training step. The ReLU layer with `maxValue: 6` (what
 * Keras MobileNets convert to) computes clipByValue(relu(x), 0, 6), as many.
 * Here the forward pass is the backend's Relu6 kernel (the same values) and
 * the backward pass one loop on the wasm heap (in blocks the heap pool spreads over the wasm threads), dx = dy times the mask each
 * form's gradient has: 0 < x < 6 for minimum, 0 < x <= 6 for clipByValue.
 * So training gives the same weights as before (a NaN activation, where
 * training has diverged anyway, gives 0 here and 6 or NaN there).
 */
import * as tf from '@tensorflow/tfjs';
import { BLOCK_KERNEL, blocksFor } from './heap-blocks.js';
import { runBlocks } from './heap-pool.js';
import { heapBuffer, heapOffset, type KernelArgs, type WasmBackendLike } from './wasm-kernels.js';

const BACKWARD = 'AutopruneRelu6Grad';

function backwardKernel({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const heap = backend as WasmBackendLike;
  const { dy, x } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
  const { upperInclusive } = attrs as unknown as { upperInclusive: boolean };
  const dx = heap.makeOutput(x.shape, 'float32');
  const elements = tf.util.sizeFromShape(x.shape);
  const [dyAt, xAt, dxAt] = [dy, x, dx].map((t) => heapOffset(heap, t));
  runBlocks(heapBuffer(heap), BLOCK_KERNEL.relu6Grad, [dyAt, xAt, dxAt, elements, Number(upperInclusive)], blocksFor(elements));
  return dx;
}

function fusedRelu6(upperInclusive: boolean) {
  return tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
    save([x]);
    return {
      value: tf.relu6(x),
      gradFunc: (dy: tf.Tensor, [saved]: tf.Tensor[]) => tf.engine().runKernel(BACKWARD, { dy, x: saved }, { upperInclusive }) as tf.Tensor,
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor) => tf.Tensor;
}

const fused = (x: tf.Tensor) => tf.getBackend() === 'wasm' && x.dtype === 'float32';

let registered = false;

/** Registers the gradient kernel on wasm and routes both forms of ReLU6 in tfjs-layers through the fused pair there. */
export function registerFusedRelu6(): void {
  if (registered) return;
  tf.registerKernel({ kernelName: BACKWARD, backendName: 'wasm', kernelFunc: backwardKernel as unknown as tf.KernelFunc });

  const activation = tf.serialization.SerializationMap.getMap().classNameMap.relu6;
  if (activation === undefined) throw new Error('tfjs-layers registers no relu6 activation');
  const activationPrototype = (activation[0] as unknown as { prototype: { apply: (x: tf.Tensor) => tf.Tensor } }).prototype;
  const stockApply = activationPrototype.apply;
  const minimumForm = fusedRelu6(false);
  activationPrototype.apply = function (x: tf.Tensor) {
    return fused(x) ? minimumForm(x) : stockApply.call(this, x);
  };

  const layerPrototype = Object.getPrototypeOf(tf.layers.reLU({})) as {
    call: (inputs: tf.Tensor | tf.Tensor[], kwargs: tf.serialization.ConfigDict) => tf.Tensor;
  };
  const stockCall = layerPrototype.call;
  const clipForm = fusedRelu6(true);
  layerPrototype.call = function (this: { maxValue?: number }, inputs, kwargs) {
    const input = Array.isArray(inputs) ? inputs[0] : inputs;
    return this.maxValue === 6 && fused(input) ? clipForm(input) : stockCall.call(this, inputs, kwargs);
  };
  registered = true;
}
