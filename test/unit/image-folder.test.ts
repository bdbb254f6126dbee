import { cpSync, mkdirSync, readdirSync, renameSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { floatImages, loadDataset, type Split } from '../../src/data/datasets.js';
import { dataDigest, dataFiles, loadData } from '../../src/data/load.js';
import { tempDir, writeIdxDataset } from '../helpers.js';
import { DataError } from '../../src/errors.js';

type Rgb = [number, number, number];

/** A solid-colour image file; PNG is lossless, so its pixels decode exactly. */
async function writeImage(path: string, colour: Rgb, { size = 6, format = 'png' as 'png' | 'jpeg' } = {}): Promise<void> {
  const pixels = Buffer.alloc(size * size * 3);
  for (let p = 0; p < size * size; p++) pixels.set(colour, 3 * p);
  const image = sharp(pixels, { raw: { width: size, height: size, channels: 3 } });
  await (format === 'png' ? image.png() : image.jpeg({ quality: 100 })).toFile(path);
}

/** `counts[class]` images of each class's colour under dir/<class>/. */
async function writeClasses(dir: string, counts: Record<string, number>, colours: Record<string, Rgb>): Promise<void> {
  for (const [name, count] of Object.entries(counts)) {
    mkdirSync(join(dir, name), { recursive: true });
    for (let i = 0; i < count; i++)
      await writeImage(join(dir, name, `${i}.${i % 3 === 2 ? 'jpg' : 'png'}`), colours[name], { format: i % 3 === 2 ? 'jpeg' : 'png' });
  }
}

const COLOURS: Record<string, Rgb> = { red: [255, 0, 0], green: [0, 255, 0], blue: [0, 0, 255] };

describe('image folders', () => {
  it('reads class subfolders (sorted names are the labels), resizes, and carves validation and test splits', async () => {
    const dir = tempDir();
    await writeClasses(dir, { red: 10, green: 10, blue: 10 }, COLOURS);
    writeFileSync(join(dir, 'red', 'notes.txt'), 'not an image'); // skipped
    const data = await loadData({ dataset: 'mnist', data: dir }, { inputShape: [4, 5, 3], validationSize: 3, cacheDir: false });
    expect(data.classNames).toEqual(['blue', 'green', 'red']);
    expect(data.numClasses).toBe(3);
    expect(data.inputShape).toEqual([4, 5, 3]);
    // 30 images: a tenth for test (a fixed seed), then the validation size, the rest for training.
    expect([data.train.count, data.validation.count, data.test.count]).toEqual([24, 3, 3]);
    expect(data.train.images.length).toBe(24 * 4 * 5 * 3);
    // Every image is one solid colour; its label names that colour.
    for (const split of [data.train, data.validation, data.test]) {
      for (let i = 0; i < split.count; i++) {
        const first = Array.from(split.images.subarray(i * 60, i * 60 + 3));
        const expected = COLOURS[data.classNames![split.labels[i]]];
        first.forEach((v, c) => expect(Math.abs(v - expected[c])).toBeLessThanOrEqual(3)); // JPEG may shift a little
      }
    }
  });

  it('keeps the test split fixed across split seeds, and the splits disjoint', async () => {
    const dir = tempDir();
    await writeClasses(dir, { red: 15, green: 15 }, COLOURS);
    // Tag each image by a unique brightness so images can be told apart.
    let k = 0;
    for (const name of ['red', 'green']) {
      for (const file of readdirSync(join(dir, name)).sort()) await writeImage(join(dir, name, file), [k++, 0, 0], { format: 'png' });
    }
    const ids = (images: Split['images'], count: number) => Array.from({ length: count }, (_, i) => images[i * 12]);
    const load = (seed: number) => loadData({ dataset: 'mnist', data: dir }, { inputShape: [2, 2, 3], validationSize: 5, seed, cacheDir: false });
    const [a, b] = [await load(0), await load(1)];
    expect(ids(a.test.images, a.test.count)).toEqual(ids(b.test.images, b.test.count));
    expect(ids(a.validation.images, 5)).not.toEqual(ids(b.validation.images, 5));
    const all = [...ids(a.train.images, a.train.count), ...ids(a.validation.images, 5), ...ids(a.test.images, a.test.count)];
    expect(new Set(all).size).toBe(30);
  });

  it('uses train/ val/ test/ folders as the splits, gray or RGB, with the scaling asked for', async () => {
    const dir = tempDir();
    const grey: Record<string, Rgb> = { dark: [51, 51, 51], light: [204, 204, 204] };
    for (const [split, n] of [
      ['train', 4],
      ['val', 2],
      ['test', 3],
    ] as const)
      await writeClasses(join(dir, split), { dark: n, light: n }, grey);
    const gray = await loadData({ dataset: 'mnist', data: dir }, { inputShape: [3, 3, 1], cacheDir: false });
    expect([gray.train.count, gray.validation.count, gray.test.count]).toEqual([8, 4, 6]);
    expect(gray.train.images.length).toBe(8 * 9);
    const value = (d: typeof gray, i: number) => floatImages(d.train, d.inputShape, i, i + 1)[0];
    const darkIndex = Array.from(gray.train.labels).indexOf(0);
    expect(value(gray, darkIndex)).toBeCloseTo(51 / 255, 1);
    const signed = await loadData({ dataset: 'mnist', data: dir }, { inputShape: [3, 3, 1], scaling: '-1..1', cacheDir: false });
    expect(value(signed, darkIndex)).toBeCloseTo(51 / 127.5 - 1, 1);
    const normalised = await loadData(
      { dataset: 'mnist', data: dir },
      { inputShape: [3, 3, 3], scaling: { mean: [0.2, 0.2, 0.2], std: [0.5, 0.5, 0.5] }, cacheDir: false },
    );
    expect(value(normalised, darkIndex)).toBeCloseTo((51 / 255 - 0.2) / 0.5, 1);
    // Without a model, the first training image gives the size and channels.
    const native = await loadData({ dataset: 'mnist', data: dir }, { cacheDir: false });
    expect(native.inputShape).toEqual([6, 6, 3]);
  });

  it('decodes once: a second load comes from the cache, a changed file decodes again', async () => {
    const dir = tempDir();
    const cacheDir = tempDir();
    await writeClasses(dir, { red: 6, green: 6 }, COLOURS);
    const progress: number[] = [];
    const load = () =>
      loadData({ dataset: 'mnist', data: dir }, { inputShape: [4, 4, 3], validationSize: 2, cacheDir, onProgress: (done) => progress.push(done) });
    const first = await load();
    expect(progress.at(-1)).toBe(12);
    progress.length = 0;
    const second = await load();
    expect(progress).toEqual([]);
    expect(Array.from(second.train.images)).toEqual(Array.from(first.train.images));
    await writeImage(join(dir, 'red', '0.png'), [0, 0, 0]);
    utimesSync(join(dir, 'red', '0.png'), new Date(), new Date(Date.now() + 5000));
    await load();
    expect(progress.at(-1)).toBe(12);
  });

  it('names the folder or file for bad data', async () => {
    const expectError = async (dir: string, pattern: RegExp) => {
      const error = await loadData({ dataset: 'mnist', data: dir }, { inputShape: [4, 4, 3], validationSize: 1, cacheDir: false }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DataError);
      expect((error as Error).message).toMatch(pattern);
    };
    await expectError(join(tempDir(), 'missing'), /missing: the data folder does not exist/);
    const oneClass = tempDir();
    await writeClasses(oneClass, { red: 3 }, COLOURS);
    await expectError(oneClass, /only one class folder \(red\)/);
    const emptyClass = tempDir();
    await writeClasses(emptyClass, { red: 3, green: 0 }, COLOURS);
    await expectError(emptyClass, /green: no PNG or JPEG images/);
    const corrupt = tempDir();
    await writeClasses(corrupt, { red: 3, green: 3 }, COLOURS);
    writeFileSync(join(corrupt, 'green', 'broken.png'), 'not a png');
    await expectError(corrupt, /green\/broken\.png: not a readable PNG or JPEG image/);
    const mismatch = tempDir();
    await writeClasses(join(mismatch, 'train'), { red: 3, green: 3 }, COLOURS);
    await writeClasses(join(mismatch, 'test'), { red: 3, blue: 3 }, COLOURS);
    await expectError(mismatch, /test: classes \(blue, red\) differ from those of .*train \(green, red\)/);
    const noTrain = tempDir();
    await writeClasses(join(noTrain, 'val'), { red: 3, green: 3 }, COLOURS);
    await expectError(noTrain, /has a val\/ or test\/ folder but no train\/ folder/);
    const linked = tempDir(); // class folders may be symbolic links (a folder assembled from elsewhere)
    await writeClasses(join(linked, 'store'), { red: 3, green: 3 }, COLOURS);
    mkdirSync(join(linked, 'data'));
    for (const name of ['red', 'green']) symlinkSync(join(linked, 'store', name), join(linked, 'data', name));
    expect(
      (await loadData({ dataset: 'mnist', data: join(linked, 'data') }, { inputShape: [4, 4, 3], validationSize: 1, cacheDir: false })).classNames,
    ).toEqual(['green', 'red']);
    const tooFew = tempDir();
    await writeClasses(tooFew, { red: 1, green: 1 }, COLOURS);
    await expectError(tooFew, /validation size 1 must be an integer in 1\.\.0/);
  });
});

describe('other folders given as data', () => {
  it('reads a folder of the four IDX files as the IDX data set', async () => {
    const dir = writeIdxDataset(tempDir(), { train: 60, test: 20, size: 8 });
    const viaFolder = await loadData({ dataset: 'mnist', data: dir }, { validationSize: 10 });
    const viaName = loadDataset('mnist', { dataDir: dir, validationSize: 10 });
    expect(viaFolder.inputShape).toEqual([8, 8, 1]);
    expect(Array.from(viaFolder.train.labels)).toEqual(Array.from(viaName.train.labels));
    expect(Array.from(viaFolder.validation.images)).toEqual(Array.from(viaName.validation.images));
  });

  it('resizes an IDX data set to the size and channels asked for (gray to RGB), the same splits, and caches the result', async () => {
    const dir = writeIdxDataset(tempDir(), { train: 60, test: 20, size: 8 });
    const cacheDir = tempDir();
    const native = await loadData({ dataset: 'mnist', data: dir }, { validationSize: 10, cacheDir });
    const progress: number[] = [];
    const load = () =>
      loadData({ dataset: 'mnist', data: dir }, { inputShape: [16, 12, 3], validationSize: 10, cacheDir, onProgress: (done) => progress.push(done) });
    const big = await load();
    expect(big.inputShape).toEqual([16, 12, 3]);
    expect(big.validation.images.length).toBe(10 * 16 * 12 * 3);
    expect(Array.from(big.validation.labels)).toEqual(Array.from(native.validation.labels));
    expect(progress.at(-1)).toBe(80);
    // Gray copied to the three channels; an image's mean brightness survives the stretch.
    const image = big.validation.images.subarray(0, 16 * 12 * 3);
    for (let p = 0; p < image.length; p += 3) expect([image[p + 1], image[p + 2]]).toEqual([image[p], image[p]]);
    const mean = (a: ArrayLike<number>) => Array.from(a).reduce((x, y) => x + y, 0) / a.length;
    expect(Math.abs(mean(image) - mean(native.validation.images.subarray(0, 64)))).toBeLessThan(12);
    progress.length = 0;
    const again = await load();
    expect(progress).toEqual([]); // from the cache
    expect(Array.from(again.train.images)).toEqual(Array.from(big.train.images));
  });

  it("reads CIFAR-10's binary batches: planes to HWC, labels, class names", async () => {
    const dir = join(tempDir(), 'cifar-10-batches-bin');
    mkdirSync(dir);
    const record = (label: number, rgb: Rgb) => {
      const bytes = new Uint8Array(3073);
      bytes[0] = label;
      rgb.forEach((v, c) => bytes.fill(v, 1 + c * 1024, 1 + (c + 1) * 1024));
      return bytes;
    };
    const batch = (records: Uint8Array[]) => Buffer.concat(records);
    for (let k = 1; k <= 5; k++)
      writeFileSync(join(dir, `data_batch_${k}.bin`), batch(Array.from({ length: 4 }, (_, i) => record((k + i) % 10, [10 * k, i, 200]))));
    writeFileSync(join(dir, 'test_batch.bin'), batch([record(3, [1, 2, 3]), record(7, [4, 5, 6])]));
    writeFileSync(join(dir, 'batches.meta.txt'), 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n');
    const data = await loadData({ dataset: 'mnist', data: join(dir, '..') }, { validationSize: 4 });
    expect(data.inputShape).toEqual([32, 32, 3]);
    expect(data.classNames?.[3]).toBe('cat');
    expect([data.train.count, data.validation.count, data.test.count]).toEqual([16, 4, 2]);
    expect(Array.from(data.test.labels)).toEqual([3, 7]);
    // Pixel 0 and the last pixel of the first test image: (1, 2, 3) / 255 in HWC order.
    expect(Array.from(data.test.images.subarray(0, 3))).toEqual([1, 2, 3]);
    expect(Array.from(data.test.images.subarray(3 * 1023, 3 * 1024))).toEqual([1, 2, 3]);
    writeFileSync(join(dir, 'test_batch.bin'), Buffer.alloc(100));
    await expect(loadData({ dataset: 'mnist', data: dir })).rejects.toThrow(/test_batch\.bin: 100 bytes is not a whole number of 3,073-byte CIFAR-10 records/);
  });

  it('digests the data by its files: the same wherever the folder is, another when an image, its class or a file of an IDX set changes', async () => {
    const dir = join(tempDir(), 'photos');
    await writeClasses(dir, { red: 2, green: 2 }, COLOURS);
    expect(dataFiles({ dataset: 'mnist', data: dir }).files.map((f) => f.slice(dir.length + 1))).toEqual([
      'green/0.png',
      'green/1.png',
      'red/0.png',
      'red/1.png',
    ]);
    const digest = dataDigest({ dataset: 'mnist', data: dir });
    const copy = join(tempDir(), 'elsewhere');
    cpSync(dir, copy, { recursive: true });
    expect(dataDigest({ dataset: 'mnist', data: copy })).toBe(digest);
    renameSync(join(copy, 'red', '1.png'), join(copy, 'green', '2.png')); // the same bytes, another class
    expect(dataDigest({ dataset: 'mnist', data: copy })).not.toBe(digest);
    await writeImage(join(dir, 'red', '0.png'), [0, 0, 0]);
    expect(dataDigest({ dataset: 'mnist', data: dir })).not.toBe(digest);

    const idx = tempDir();
    writeIdxDataset(idx, { train: 20, test: 5 });
    const idxDigest = dataDigest({ dataset: 'mnist', dataDir: idx });
    expect(dataDigest({ dataset: 'mnist', data: idx })).toBe(idxDigest);
    writeIdxDataset(idx, { train: 20, test: 6 });
    expect(dataDigest({ dataset: 'mnist', dataDir: idx })).not.toBe(idxDigest);
    expect(() => dataDigest({ dataset: 'mnist', dataDir: join(idx, 'missing') })).toThrow(DataError);
  });
});
