/**
 * Reader for CIFAR-10's binary version (cifar-10-batches-bin): data_batch_1..5.bin
 * and test_batch.bin, each a run of 3,073-byte records (a label byte, then
 * 1,024 red, 1,024 green and 1,024 blue bytes of a 32x32 image), and
 * batches.meta.txt with the class names.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LabelledPixels } from './datasets.js';
import { DataError } from '../errors.js';

const SIDE = 32;
const PLANE = SIDE * SIDE;
const RECORD = 1 + 3 * PLANE;
const TRAIN_FILES = [1, 2, 3, 4, 5].map((k) => `data_batch_${k}.bin`);
const TEST_FILE = 'test_batch.bin';
const CLASSES = 10;

/** The folder holding the batches: `dir` itself or its cifar-10-batches-bin subfolder; undefined if neither. */
export function cifar10Folder(dir: string): string | undefined {
  return [dir, join(dir, 'cifar-10-batches-bin')].find((d) => existsSync(join(d, TRAIN_FILES[0])));
}

function readBatches(dir: string, files: string[]): LabelledPixels {
  const buffers = files.map((file) => {
    const path = join(dir, file);
    if (!existsSync(path)) throw new DataError(`CIFAR-10: missing ${file} in ${dir}`);
    const bytes = readFileSync(path);
    if (bytes.length === 0 || bytes.length % RECORD !== 0)
      throw new DataError(`${path}: ${bytes.length} bytes is not a whole number of 3,073-byte CIFAR-10 records`);
    return { path, bytes };
  });
  const count = buffers.reduce((n, b) => n + b.bytes.length / RECORD, 0);
  const pixels = new Uint8Array(count * 3 * PLANE);
  const labels = new Uint8Array(count);
  let image = 0;
  for (const { path, bytes } of buffers) {
    for (let r = 0; r < bytes.length; r += RECORD, image++) {
      if (bytes[r] >= CLASSES) throw new DataError(`${path}: label ${bytes[r]} of record ${r / RECORD} is outside 0..${CLASSES - 1}`);
      labels[image] = bytes[r];
      const out = image * 3 * PLANE;
      for (let p = 0; p < PLANE; p++) {
        for (let c = 0; c < 3; c++) pixels[out + 3 * p + c] = bytes[r + 1 + c * PLANE + p]; // planes to HWC
      }
    }
  }
  return { pixels, labels, count };
}

/** The binary batch files of a CIFAR-10 folder, in the order they are read. */
export function cifar10Files(dir: string): string[] {
  return [...TRAIN_FILES, TEST_FILE].map((file) => join(dir, file));
}

export function readCifar10(dir: string): {
  train: LabelledPixels;
  test: LabelledPixels;
  classNames: string[];
  inputShape: [number, number, number];
  /** The batch files read, in order. */
  files: string[];
} {
  const metaPath = join(dir, 'batches.meta.txt');
  const names = existsSync(metaPath)
    ? readFileSync(metaPath, 'utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean)
    : [];
  return {
    train: readBatches(dir, TRAIN_FILES),
    test: readBatches(dir, [TEST_FILE]),
    classNames: names.length === CLASSES ? names : Array.from({ length: CLASSES }, (_, i) => String(i)),
    inputShape: [SIDE, SIDE, 3],
    files: cifar10Files(dir),
  };
}
