/**
 * One entry for every kind of data: a known data set by name, or a folder
 * (`data`) of labelled images, of the four IDX files, or of CIFAR-10's
 * binary batches, told apart by what the folder holds.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { cifar10Files, cifar10Folder, readCifar10 } from './cifar10.js';
import { carveSplits, type Dataset, datasetDir, idxFiles, isIdxFolder, readIdxFolder } from './datasets.js';
import { type ImageFolderOptions, imageFolderFiles, loadImageFolder } from './image-folder.js';
import { resizeSets } from './resize.js';

export interface DataSource {
  /** mnist or fashion-mnist; used when `data` is absent. */
  dataset: string;
  /** A folder of class subfolders of images (optionally under train/ val/ test/), of the four IDX files, or of CIFAR-10's binary batches. */
  data?: string;
  /** Folder with the four IDX files of `dataset` (default: the bundled / Debian copy). */
  dataDir?: string;
}

/** `data` and `dataDir` as absolute paths: a record read from another folder (resume, a baseline lookup) finds the same data. */
export function withAbsolutePaths<T extends { data?: string; dataDir?: string }>(source: T): T {
  return {
    ...source,
    ...(source.data !== undefined && { data: resolve(source.data) }),
    ...(source.dataDir !== undefined && { dataDir: resolve(source.dataDir) }),
  };
}

/**
 * What names the data in run records, so that a baseline trained on a folder
 * is found again for that folder: the resolved folder, else the data set name.
 */
export function dataKey(source: { dataset?: string; data?: string }): string {
  return source.data !== undefined ? resolve(source.data) : (source.dataset ?? '');
}

/** A short label for the data: the folder's name, else the data set name. */
export function dataLabel(source: { dataset?: string; data?: string }): string {
  return source.data !== undefined ? basename(resolve(source.data)) : (source.dataset ?? '');
}

/**
 * Loads and splits the data. `options.inputShape` is the model's input
 * (images are decoded to it); without it, `imageSize` and `channels` say the
 * size wanted. IDX and CIFAR-10 images at another size or channel count are
 * resized to it (resizeSets, cached); at their own size they are used as
 * their files hold them.
 */
export async function loadData(source: DataSource, options: ImageFolderOptions = {}): Promise<Dataset> {
  const dir = source.data === undefined ? undefined : resolve(source.data);
  if (dir !== undefined && !isIdxFolder(dir) && cifar10Folder(dir) === undefined) return loadImageFolder(dir, options);
  const read =
    dir === undefined
      ? readIdxFolder(source.dataset, datasetDir(source.dataset, source.dataDir))
      : isIdxFolder(dir)
        ? readIdxFolder(basename(dir), dir)
        : readCifar(dir);
  const native = read.meta.inputShape;
  const target = options.inputShape ?? [options.imageSize?.[0] ?? native[0], options.imageSize?.[1] ?? native[1], options.channels ?? native[2]];
  if (target.every((d, i) => d === native[i])) return carveSplits(read.meta, { train: read.train, test: read.test }, options);
  const [train, test] = await resizeSets([read.train, read.test], native, target, {
    cacheDir: options.cacheDir,
    sourceFiles: read.files,
    onProgress: options.onProgress,
    onCacheWrite: options.onCacheWrite,
  });
  return carveSplits({ ...read.meta, inputShape: target }, { train, test }, options);
}

/** The folder the data is read from and every file of it that loadData reads, in order; a DataError when the data is missing. */
export function dataFiles(source: DataSource): { root: string; files: string[] } {
  if (source.data === undefined) {
    const root = datasetDir(source.dataset, source.dataDir);
    return { root, files: idxFiles(source.dataset, root) };
  }
  const root = resolve(source.data);
  if (isIdxFolder(root)) return { root, files: idxFiles(basename(root), root) };
  const cifar = cifar10Folder(root);
  if (cifar === undefined) return { root, files: imageFolderFiles(root) };
  const names = join(cifar, 'batches.meta.txt'); // the class names
  return { root, files: [...cifar10Files(cifar), ...(existsSync(names) ? [names] : [])] };
}

/**
 * SHA-256 of the data: each file's path under the data's folder (which
 * names its class and split) and its bytes, in the order they are read.
 * The same files give the same digest on any machine, wherever the folder is.
 */
export function dataDigest(source: DataSource): string {
  const { root, files } = dataFiles(source);
  const hash = createHash('sha256');
  for (const file of files) {
    const bytes = readFileSync(file);
    hash.update(`${relative(root, file)}\0${bytes.length}\0`).update(bytes);
  }
  return hash.digest('hex');
}

/** CIFAR-10's binary batches in `dir`, before splitting. */
function readCifar(dir: string) {
  const cifar = cifar10Folder(dir)!;
  const { train, test, classNames, inputShape, files } = readCifar10(cifar);
  return { meta: { name: basename(dir), source: cifar, inputShape, numClasses: classNames.length, classNames }, train, test, files };
}
