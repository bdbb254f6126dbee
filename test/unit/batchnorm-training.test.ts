import * as tf from '@tensorflow/tfjs';
import seedrandom from 'seedrandom';
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend/backend.js';

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/** One training-mode BatchNormalization call and its gradients, on a backend. */
async function batchNormOn(
  backend: string,
  xValues: Float32Array,
  shape: number[],
  gammaValues: Float32Array,
  betaValues: Float32Array,
  dyValues: Float32Array,
) {
  await selectBackend(backend);
  const channels = shape[shape.length - 1];
  const layer = tf.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-3 });
  layer.build(shape);
  layer.setWeights([tf.tensor1d(gammaValues), tf.tensor1d(betaValues), tf.fill([channels], 0.5), tf.fill([channels], 2)]);
  const x = tf.variable(tf.tensor(xValues, shape));
  const dy = tf.tensor(dyValues, shape);
  const [gamma, beta] = layer.trainableWeights.map((w) => w.read() as tf.Variable);
  const tensorsBefore = tf.memory().numTensors;
  const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(layer.apply(x, { training: true }) as tf.Tensor, dy)) as tf.Scalar, [x, gamma, beta]);
  // The moving statistics after that one call, then the output of a second call.
  const movingMean = await layer.getWeights()[2].data();
  const movingVariance = await layer.getWeights()[3].data();
  const y = layer.apply(x, { training: true }) as tf.Tensor;
  const result = {
    y: await y.data(),
    dx: await grads[x.name].data(),
    dgamma: await grads[gamma.name].data(),
    dbeta: await grads[beta.name].data(),
    movingMean,
    movingVariance,
  };
  tf.dispose([value, ...Object.values(grads), y]);
  const leaked = tf.memory().numTensors - tensorsBefore;
  tf.dispose([x, dy, ...layer.weights.map((w) => w.read())]);
  return { ...result, leaked };
}

describe('fused BatchNormalization training kernels on wasm', () => {
  it.each([
    { shape: [4, 5, 6, 7], offset: 0 },
    { shape: [3, 9, 16], offset: 3 }, // a rank-3 input, and activations far from zero mean
    { shape: [7, 19, 21, 33], offset: 1 }, // in 5 blocks of uneven rows (heap-blocks.ts)
  ])('match the stock layer on cpu for shape $shape', async ({ shape, offset }) => {
    const rng = seedrandom(shape.join('x'));
    const size = shape.reduce((a, b) => a * b);
    const channels = shape[shape.length - 1];
    const random = (n: number, shift = 0) => Float32Array.from({ length: n }, () => shift + rng() * 2 - 1);
    const inputs = [random(size, offset), shape, random(channels, 1), random(channels), random(size)] as const;
    const cpu = await batchNormOn('cpu', ...inputs);
    const wasm = await batchNormOn('wasm', ...inputs);
    for (const key of ['y', 'dx', 'dgamma', 'dbeta', 'movingMean', 'movingVariance'] as const) {
      expect(maxAbsDiff(wasm[key], cpu[key]), key).toBeLessThan(1e-3);
    }
    expect(wasm.leaked).toBe(0);
  });

  it('are what a BatchNormalization layer runs when training on wasm', async () => {
    await selectBackend('wasm');
    const layer = tf.layers.batchNormalization();
    const x = tf.randomNormal([2, 3, 3, 4]);
    const { kernelNames } = await tf.profile(() => tf.grad((input: tf.Tensor) => tf.sum(layer.apply(input, { training: true }) as tf.Tensor))(x));
    expect(kernelNames).toContain('AutopruneBatchNormTraining');
    expect(kernelNames).toContain('AutopruneBatchNormTrainingGrad');
    const inference = await tf.profile(() => layer.apply(x, { training: false }) as tf.Tensor);
    expect(inference.kernelNames).not.toContain('AutopruneBatchNormTraining');
    tf.dispose(x);
  });
});
