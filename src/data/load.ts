/**
 * One entry for every kind of data: a known data set by name, or a folder
 * (`data`) of labelled images, of the four IDX files, or of CIFAR-10's
 * binary batches, told apart by what the folder holds.
 */
import { basename, resolve } from 'node:path';
import { cifar10Folder, readCifar10 } from './cifar10.js';
import { carveSplits, type Dataset, isIdxFolder, loadDataset, loadIdxFolder } from './datasets.js';
import { type ImageFolderOptions, loadImageFolder } from './image-folder.js';

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
 * (images are decoded to it); IDX and CIFAR-10 data keep their own size, and
 * a mismatch is the model check's to report.
 */
export async function loadData(source: DataSource, options: ImageFolderOptions = {}): Promise<Dataset> {
  if (source.data === undefined) return loadDataset(source.dataset, { ...options, dataDir: source.dataDir });
  const dir = resolve(source.data);
  if (isIdxFolder(dir)) return loadIdxFolder(basename(dir), dir, options);
  const cifar = cifar10Folder(dir);
  if (cifar !== undefined) {
    const { train, test, classNames, inputShape } = readCifar10(cifar);
    return carveSplits({ name: basename(dir), source: cifar, inputShape, numClasses: classNames.length, classNames }, { train, test }, options);
  }
  return loadImageFolder(dir, options);
}
