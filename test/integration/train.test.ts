import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend/backend.js';
import { floatImages, loadDataset, seededPermutation } from '../../src/data/datasets.js';
import { buildZooModel } from '../../src/models/zoo.js';
import { layerWeight } from '../../src/models/weights.js';
import { correctness, evaluateAccuracy, recalibrateBatchNorm, trainModel } from '../../src/train/train.js';

const data = loadDataset('mnist', { seed: 0, validationSize: 500, trainLimit: 1024, testLimit: 500 });
const config = { epochs: 2, batchSize: 64, learningRate: 2e-3, seed: 5, restoreBest: true };

async function trainedWeights(seed: number) {
  const model = buildZooModel('lenet5', { inputShape: data.inputShape, numClasses: 10, seed: 1 });
  const result = await trainModel(model, data, { ...config, seed });
  const weights = await Promise.all(model.getWeights().map((w) => w.data()));
  return { model, result, weights };
}

describe('training on wasm', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it('learns MNIST from 1024 images, and the same seed gives bit-identical weights', async () => {
    const tensorsBefore = tf.memory().numTensors;
    const a = await trainedWeights(5);
    expect(a.result.epochs).toHaveLength(2);
    expect(a.result.validationAccuracy).toBeGreaterThan(0.85);
    expect(await evaluateAccuracy(a.model, data.test, data.inputShape)).toBeGreaterThan(0.85);
    const b = await trainedWeights(5);
    expect(b.weights).toEqual(a.weights);
    const c = await trainedWeights(6);
    expect(c.weights).not.toEqual(a.weights);
    [a, b, c].forEach(({ model }) => model.dispose());
    // Training leaves nothing behind but the models (disposed above) and the optimizer state (disposed by trainModel).
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });

  it("returns the kept epoch's answers on the validation split, so a check of the trained model needs no second pass", async () => {
    const model = buildZooModel('lenet5', { inputShape: data.inputShape, numClasses: 10, seed: 1 });
    // A large learning rate, so that accuracy moves between epochs: whichever epoch restoreBest keeps, the answers are its.
    const result = await trainModel(model, data, { ...config, epochs: 3, learningRate: 0.05 });
    expect(result.validationAnswers.split).toBe(data.validation);
    expect(result.validationAnswers.right).toEqual(await correctness(model, data.validation, data.inputShape));
    expect(result.validationAccuracy).toBe(result.epochs[result.bestEpoch - 1].validationAccuracy);
    model.dispose();
  });

  it('distils from a teacher: with the whole target taken from its answers the student learns them, not the labels; no tensor is left', async () => {
    // A teacher that answers 3 to every image: its last layer's weights zero, its bias large at class 3.
    const teacher = buildZooModel('lenet5', { inputShape: data.inputShape, numClasses: 10, seed: 1 });
    const last = teacher.layers[teacher.layers.length - 1];
    tf.tidy(() =>
      last.setWeights([
        tf.zerosLike(last.getWeights()[0]),
        tf
          .oneHot(tf.tensor1d([3], 'int32'), 10)
          .reshape([10])
          .mul(10),
      ]),
    );
    const answersThree = async (distillation: number) => {
      const student = buildZooModel('lenet5', { inputShape: data.inputShape, numClasses: 10, seed: 2 });
      const tensors = tf.memory().numTensors;
      await trainModel(student, data, { ...config, epochs: 1, restoreBest: false, distillation }, {}, teacher);
      expect(tf.memory().numTensors).toBe(tensors);
      const predicted = tf.tidy(() =>
        (student.predict(tf.tensor4d(floatImages(data.validation, data.inputShape), [data.validation.count, ...data.inputShape])) as tf.Tensor).argMax(-1),
      );
      const share = Array.from(await predicted.data()).filter((c) => c === 3).length / data.validation.count;
      predicted.dispose();
      student.dispose();
      return share;
    };
    expect(await answersThree(1)).toBeGreaterThan(0.95);
    expect(await answersThree(0)).toBeLessThan(0.3);
    await expect(trainModel(teacher, data, { ...config, distillation: 0.5 })).rejects.toThrow(/distillation needs a teacher model/);
    await expect(trainModel(teacher, data, { ...config, distillation: 2 }, {}, teacher)).rejects.toThrow(/within 0\.\.1, got 2/);
    teacher.dispose();
  });

  it('with 0 epochs leaves the model as it is and reports its validation accuracy, not NaN', async () => {
    const model = buildZooModel('lenet5', { inputShape: data.inputShape, numClasses: 10, seed: 1 });
    const before = await Promise.all(model.getWeights().map((w) => w.data()));
    const result = await trainModel(model, data, { ...config, epochs: 0 });
    expect(result.epochs).toHaveLength(0);
    expect(result.validationAccuracy).toBe(await evaluateAccuracy(model, data.validation, data.inputShape));
    expect(await Promise.all(model.getWeights().map((w) => w.data()))).toEqual(before);
    model.dispose();
  });

  it('trains a BatchNorm model with the broadcasting BN gradient to the same gradients as plain ops', async () => {
    const x = tf.randomNormal([8, 5, 5, 3], 0, 1, 'float32', 1);
    const gamma = tf.tensor1d([0.5, 1.5, -1]);
    const beta = tf.tensor1d([0.1, 0, -0.2]);
    const eps = 1e-3;
    const loss = (fused: boolean) => (input: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = tf.moments(input, [0, 1, 2]);
      const normed = fused
        ? tf.batchNorm(input, mean, variance, b as tf.Tensor1D, g as tf.Tensor1D, eps)
        : tf.add(tf.mul(tf.div(tf.sub(input, mean), tf.sqrt(tf.add(variance, eps))), g), b);
      return tf.sum(tf.mul(normed, tf.linspace(-1, 1, 3)).square());
    };
    const fused = tf.grads(loss(true))([x, gamma, beta]);
    const plain = tf.grads(loss(false))([x, gamma, beta]);
    for (let i = 0; i < 3; i++) {
      const diff = (await tf.max(tf.abs(tf.sub(fused[i], plain[i]))).data())[0];
      expect(diff).toBeLessThan(1e-4);
    }
    tf.dispose([x, gamma, beta, ...fused, ...plain]);
  });

  it('re-estimates BatchNorm statistics exactly over all images, chunk by chunk, each BN seeing its predecessors already recalibrated', async () => {
    // conv -> BN -> relu -> conv -> BN -> classifier, with moving statistics far from the data's.
    const input = tf.input({ shape: data.inputShape });
    let x = tf.layers.conv2d({ filters: 4, kernelSize: 3, name: 'c1' }).apply(input) as tf.SymbolicTensor;
    x = tf.layers
      .batchNormalization({ name: 'bn1', movingMeanInitializer: 'ones', movingVarianceInitializer: tf.initializers.constant({ value: 9 }) })
      .apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
    x = tf.layers.conv2d({ filters: 3, kernelSize: 3, name: 'c2' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization({ name: 'bn2', movingMeanInitializer: 'ones' }).apply(x) as tf.SymbolicTensor;
    const output = tf.layers.dense({ units: 10, activation: 'softmax' }).apply(tf.layers.flatten().apply(x)) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: output });
    const tensorsBefore = tf.memory().numTensors;
    // The statistics of `layer`'s output over the images recalibrateBatchNorm samples with `seed`, against what it stored in `bn`.
    const expectStatistics = (bn: string, layer: string, count: number, seed: string) => {
      const sample = seededPermutation(data.train.count, seed).subarray(0, count);
      const pixels = Float32Array.from(Array.from(sample).flatMap((i) => Array.from(floatImages(data.train, data.inputShape, i, i + 1))));
      const upTo = tf.model({ inputs: input, outputs: model.getLayer(layer).output as tf.SymbolicTensor });
      const [mean, variance] = tf.tidy(() => {
        const moments = tf.moments(upTo.predict(tf.tensor4d(pixels, [count, 28, 28, 1])) as tf.Tensor, [0, 1, 2]);
        return [moments.mean.arraySync(), moments.variance.arraySync()] as number[][];
      });
      expectClose(layerWeight(model.getLayer(bn), 'moving_mean')!.read().arraySync() as number[], mean, 1e-4);
      expectClose(layerWeight(model.getLayer(bn), 'moving_variance')!.read().arraySync() as number[], variance, 1e-4);
    };

    // 300 images, two chunks (256 + 44): bn1's input depends on no BN, so its statistics are exactly c1's output's.
    await recalibrateBatchNorm(model, data.train, data.inputShape, 300, 'bn-test');
    expectStatistics('bn1', 'c1', 300, 'bn-test');
    // One chunk: bn2 gets the statistics of c2's output with bn1 already normalizing by its new statistics.
    await recalibrateBatchNorm(model, data.train, data.inputShape, 200, 'bn-test-2');
    expectStatistics('bn2', 'c2', 200, 'bn-test-2');
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    model.dispose();
  });
});

function expectClose(actual: number[], expected: number[], tolerance: number) {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((a, i) => expect(Math.abs(a - expected[i])).toBeLessThan(tolerance * Math.max(1, Math.abs(expected[i]))));
}
