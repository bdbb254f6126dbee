/**
 * Supervised training and evaluation, shared by baseline training and the
 * fine-tuning after pruning. A plain loop rather than model.fit: the batch
 * order comes from a seeded generator (model.fit shuffles with Math.random),
 * and the caller sees every batch.
 */
import { yieldToEventLoop } from '../event-loop.js';
import * as tf from '@tensorflow/tfjs';
import type { Dataset, Split } from '../data/datasets.js';
import { floatImages, seededPermutation, subsetSplit } from '../data/datasets.js';
import { type Augmentation, augmentInPlace, augments } from './augment.js';
import { normalizationOf, writeMovingStatistics } from '../prune/layer-types.js';
import { execute } from '../prune/executor.js';
import { buildGraph } from '../prune/graph.js';
import { checkDataArgument, checkModelArgument } from '../arguments.js';
import { InterruptedError } from '../errors.js';
import { checkTrainingBatch, inferenceBatch } from './heap-fit.js';
import { timed } from '../phases.js';

export interface TrainConfig {
  /** Passes over the training split. */
  epochs: number;
  /** Images per gradient step. */
  batchSize: number;
  /** Adam's initial learning rate; decays to zero along a cosine over the run. */
  learningRate: number;
  /** Seed of the batch order. */
  seed: number;
  /** Keep the weights of the epoch with the best validation accuracy (early stopping without stopping). */
  restoreBest: boolean;
  /** Train on only this many images per epoch (a fresh seeded sample each epoch); all when absent. */
  imagesPerEpoch?: number;
  /**
   * After each epoch, re-estimate the BatchNorm moving statistics on this many
   * training images (0 or absent: keep the moving averages). See recalibrateBatchNorm.
   */
  batchNormImages?: number;
  /** Random flips and crops of the training images, seeded by `seed` (none when absent). */
  augment?: Augmentation;
  /**
   * Knowledge distillation: the share w of each image's target taken from the
   * teacher's answer (trainModel's `teacher`, the unpruned model), the rest
   * from its label: target = (1 - w) onehot + w p_teacher. Cross-entropy to
   * it is w KL(p_teacher || p) plus a constant added to the label's loss: Hinton
   * et al.'s distillation at temperature 1. 0 or absent: labels only.
   */
  distillation?: number;
}

/** A shouldStop for a caller's AbortSignal: true once it is aborted. */
export const stopRequested = (signal: AbortSignal | undefined) => () => signal?.aborted === true;

export const DEFAULT_TRAIN_CONFIG: TrainConfig = { epochs: 5, batchSize: 64, learningRate: 1e-3, seed: 0, restoreBest: true };

export interface BatchProgress {
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
  loss: number;
  imagesPerSecond: number;
}

export interface EpochRecord {
  epoch: number;
  loss: number;
  validationAccuracy: number;
  seconds: number;
  imagesPerSecond: number;
}

/** Which images of a split a model gets right (`correctness`), with the split they were read on. */
export interface SplitAnswers {
  split: Split;
  right: Uint8Array;
}

export interface TrainingOutcome {
  epochs: EpochRecord[];
  bestEpoch: number;
  validationAccuracy: number;
  /** The kept weights' answers on the validation split (read after their epoch): a check of the trained model on that split needs no second pass. */
  validationAnswers: SplitAnswers;
  seconds: number;
}

export interface TrainHooks {
  onBatch?: (p: BatchProgress) => void;
  /** Asked after every batch; true stops training with an InterruptedError (the model is left mid-training). */
  shouldStop?: () => boolean;
  onEpoch?: (e: EpochRecord) => void;
  /** How often onBatch fires, in batches. */
  batchEvery?: number;
}

/** Copies the selected images into one tensor (pixel bytes scaled as they are copied). */
function gatherImages(split: Split, indices: ArrayLike<number>, inputShape: [number, number, number]): tf.Tensor4D {
  return tf.tensor4d(floatImages(subsetSplit(split, indices, inputShape), inputShape), [indices.length, ...inputShape]);
}

/** Copies the selected images and labels into one batch of tensors. */
function gatherBatch(
  split: Split,
  indices: ArrayLike<number>,
  inputShape: [number, number, number],
  numClasses: number,
  augment?: { augmentation: Augmentation; seed: string },
) {
  const batch = subsetSplit(split, indices, inputShape);
  if (augment !== undefined) augmentInPlace(batch.images, batch.count, inputShape, augment.augmentation, augment.seed);
  const labels = Int32Array.from(batch.labels);
  return {
    xs: tf.tensor4d(floatImages(batch, inputShape), [batch.count, ...inputShape]),
    ys: tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), numClasses).toFloat()),
  };
}

/** Whether the model classifies each image of a split right (1) or wrong (0), in split order. */
export async function correctness(model: tf.LayersModel, split: Split, inputShape: [number, number, number], batchSize = 256): Promise<Uint8Array> {
  const right = new Uint8Array(split.count);
  const size = inferenceBatch(model, batchSize);
  for (let start = 0; start < split.count; start += size) {
    const end = Math.min(start + size, split.count);
    const predicted = tf.tidy(() => {
      const xs = tf.tensor4d(floatImages(split, inputShape, start, end), [end - start, ...inputShape]);
      return (model.predict(xs) as tf.Tensor).argMax(-1);
    });
    const labels = await predicted.data();
    predicted.dispose();
    for (let i = 0; i < labels.length; i++) right[start + i] = labels[i] === split.labels[start + i] ? 1 : 0;
    await yieldToEventLoop(); // lets Ctrl-C through during long evaluations
  }
  return right;
}

/** Share of ones (images classified right). */
export const accuracyOf = (right: Uint8Array) => right.reduce((sum, r) => sum + r, 0) / right.length;

/** Top-1 accuracy of the model on a split, as a fraction. */
export async function evaluateAccuracy(model: tf.LayersModel, split: Split, inputShape: [number, number, number], batchSize = 256): Promise<number> {
  return accuracyOf(await correctness(model, split, inputShape, batchSize));
}

/** Images per forward pass of the re-estimation, at most. */
const BATCHNORM_CHUNK = 256;

/** Images the BatchNorm statistics are re-estimated on after a fine-tuning epoch, by default. */
export const DEFAULT_BATCHNORM_IMAGES = 1024;

/**
 * Sets every BatchNorm's moving mean and variance to the statistics of its
 * input over `images` training images (a seeded sample), as PyTorch's
 * swa_utils.update_bn does. A short fine-tune moves the moving averages only
 * part of the way (momentum 0.99: 1 - 0.99^78 = 54% after 5,000 images), so
 * after pruning they still describe the unpruned network, and accuracy
 * measured with them understates what the fine-tuned weights can do.
 * While they are gathered, every BatchNorm normalizes with its chunk's own
 * statistics (training-mode behaviour, as update_bn); each gets the mean and
 * variance of its inputs over all the images, in equal-sized chunks. A model
 * the dependency graph cannot trace is refused with a GraphError (trainModel
 * checks before its first epoch).
 */
export async function recalibrateBatchNorm(
  model: tf.LayersModel,
  split: Split,
  inputShape: [number, number, number],
  images: number,
  seed: string | number,
): Promise<void> {
  const batchNorms = model.layers.filter((layer) => normalizationOf(layer) !== undefined);
  if (batchNorms.length === 0 || images <= 0) return;
  const graph = buildGraph(model);
  const count = Math.min(images, split.count);
  const order = seededPermutation(split.count, seed).subarray(0, count);
  const sums = new Map<string, { mean: tf.Tensor; square: tf.Tensor }>();
  // Equal chunks: a last chunk of a few images would normalize by statistics of those few.
  const chunk = Math.ceil(count / Math.ceil(count / BATCHNORM_CHUNK));
  for (let start = 0; start < count; start += chunk) {
    const indices = order.subarray(start, Math.min(start + chunk, count));
    const xs = gatherImages(split, indices, inputShape);
    tf.tidy(() => {
      execute(graph, xs, {
        beforeLayer: (name, [x]) => {
          const layer = graph.node(name).layer;
          if (normalizationOf(layer) === undefined) return;
          const { mean, variance } = tf.moments(x, x.shape.map((_, a) => a).slice(0, -1));
          writeMovingStatistics(layer, mean, variance);
          // Weighted by the chunk's share of the images: E[x] and E[x^2] over all of them.
          const weight = indices.length / count;
          const previous = sums.get(name);
          const mean2 = tf.keep(tf.add(previous?.mean ?? 0, tf.mul(mean, weight)));
          const square = tf.keep(tf.add(previous?.square ?? 0, tf.mul(tf.add(variance, tf.square(mean)), weight)));
          if (previous) tf.dispose([previous.mean, previous.square]);
          sums.set(name, { mean: mean2, square });
        },
      });
    });
    xs.dispose();
    await yieldToEventLoop();
  }
  for (const [name, { mean, square }] of sums) {
    const layer = graph.node(name).layer;
    tf.tidy(() => writeMovingStatistics(layer, mean, tf.relu(tf.sub(square, tf.square(mean)))));
    tf.dispose([mean, square]);
  }
}

/** Trains in place. The model is (re)compiled with a fresh Adam optimizer. `teacher`: the model config.distillation learns from (not modified). */
export const trainModel = (
  model: tf.LayersModel,
  data: Dataset,
  config: TrainConfig,
  hooks: TrainHooks = {},
  teacher?: tf.LayersModel,
): Promise<TrainingOutcome> => timed('finetune', () => train(model, data, config, hooks, teacher));

async function train(model: tf.LayersModel, data: Dataset, config: TrainConfig, hooks: TrainHooks, teacher?: tf.LayersModel): Promise<TrainingOutcome> {
  checkModelArgument(model, 'trainModel');
  checkDataArgument(data, 'trainModel');
  const distillation = config.distillation ?? 0;
  if (!(distillation >= 0 && distillation <= 1)) throw new RangeError(`trainModel: distillation must be within 0..1, got ${distillation}`);
  if (distillation > 0 && teacher === undefined) throw new RangeError('trainModel: distillation needs a teacher model');
  if (config.batchNormImages) buildGraph(model); // a model recalibrateBatchNorm cannot trace fails now, not after an epoch
  checkTrainingBatch(model, config.batchSize, 'batchSize');
  const optimizer = tf.train.adam(config.learningRate);
  model.compile({ optimizer, loss: 'categoricalCrossentropy' });
  const perEpoch = Math.min(config.imagesPerEpoch ?? data.train.count, data.train.count);
  const batches = Math.ceil(perEpoch / config.batchSize);
  const totalSteps = config.epochs * batches;
  const records: EpochRecord[] = [];
  let best: { epoch: number; accuracy: number; right: Uint8Array; weights: tf.Tensor[] } | undefined;
  let lastRight: Uint8Array | undefined;
  const started = performance.now();
  let step = 0;
  for (let epoch = 1; epoch <= config.epochs; epoch++) {
    const order = seededPermutation(data.train.count, `${config.seed}-epoch-${epoch}`).subarray(0, perEpoch);
    const epochStart = performance.now();
    let lossSum = 0;
    for (let b = 0; b < batches; b++) {
      // Cosine decay: large steps early, fine adjustments at the end.
      (optimizer as unknown as { learningRate: number }).learningRate = 0.5 * config.learningRate * (1 + Math.cos((Math.PI * step) / totalSteps));
      const augment = augments(config.augment) ? { augmentation: config.augment, seed: `${config.seed}-augment-${epoch}-${b}` } : undefined;
      const { xs, ys: labels } = gatherBatch(
        data.train,
        order.subarray(b * config.batchSize, (b + 1) * config.batchSize),
        data.inputShape,
        data.numClasses,
        augment,
      );
      const ys =
        distillation > 0 && teacher !== undefined
          ? tf.tidy(() => tf.add(tf.mul(labels, 1 - distillation), tf.mul(teacher.predict(xs) as tf.Tensor, distillation)))
          : labels;
      const loss = (await model.trainOnBatch(xs, ys)) as number;
      if (ys !== labels) labels.dispose();
      await yieldToEventLoop();
      tf.dispose([xs, ys]);
      if (hooks.shouldStop?.()) {
        optimizer.dispose();
        best?.weights.forEach((w) => w.dispose());
        throw new InterruptedError(`stopped during training, epoch ${epoch} batch ${b + 1}/${batches}`);
      }
      lossSum += loss;
      step++;
      if (hooks.onBatch && ((b + 1) % (hooks.batchEvery ?? 20) === 0 || b === batches - 1)) {
        const seen = Math.min((b + 1) * config.batchSize, perEpoch);
        hooks.onBatch({
          epoch,
          epochs: config.epochs,
          batch: b + 1,
          batches,
          loss: lossSum / (b + 1),
          imagesPerSecond: seen / ((performance.now() - epochStart) / 1000),
        });
      }
    }
    if (config.batchNormImages) await recalibrateBatchNorm(model, data.train, data.inputShape, config.batchNormImages, `${config.seed}-bn-${epoch}`);
    const seconds = (performance.now() - epochStart) / 1000;
    lastRight = await correctness(model, data.validation, data.inputShape);
    const validationAccuracy = accuracyOf(lastRight);
    const record = { epoch, loss: lossSum / batches, validationAccuracy, seconds, imagesPerSecond: perEpoch / seconds };
    records.push(record);
    hooks.onEpoch?.(record);
    if (config.restoreBest && (best === undefined || validationAccuracy > best.accuracy)) {
      best?.weights.forEach((w) => w.dispose());
      best = { epoch, accuracy: validationAccuracy, right: lastRight, weights: model.getWeights().map((w) => w.clone()) };
    }
  }
  optimizer.dispose();
  let bestEpoch = records.length;
  let right = lastRight;
  if (best !== undefined) {
    if (best.epoch !== records.length) model.setWeights(best.weights);
    best.weights.forEach((w) => w.dispose());
    bestEpoch = best.epoch;
    right = best.right;
  }
  // With 0 epochs (fine-tuning switched off) the model is unchanged: its answers as it is.
  right ??= await correctness(model, data.validation, data.inputShape);
  return {
    epochs: records,
    bestEpoch,
    validationAccuracy: accuracyOf(right),
    validationAnswers: { split: data.validation, right },
    seconds: (performance.now() - started) / 1000,
  };
}
