/**
 * Hostile and malformed model and data files: a model.json that is not what
 * it says, weight paths that climb out of the model's folder, models the
 * pruner cannot take (nothing to prune, several outputs, a feature map, the
 * wrong classes), zero-size IDX headers. Each gives one line naming the file
 * and the field, never a TypeError, and leaves no run folder.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import type { SymbolicTensor } from '@tensorflow/tfjs';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend/backend.js';
import { encodeIdx, parseIdx } from '../../src/data/idx.js';
import { loadModel, modelFilesBytes, saveModel } from '../../src/models/io.js';
import { autoprune } from '../cli-helpers.js';
import { tempDir, writeIdxDataset } from '../helpers.js';
import { loadData } from '../../src/data/load.js';
import { decodeProgress } from '../../src/run/log.js';
import { loadError, type ModelJsonEdit, savedModel } from './helpers.js';
import { DataError, ModelError } from '../../src/errors.js';

describe('hostile model files', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it('checks model.json against its schema, naming the file and the field', async () => {
    const { path, rewrite } = await savedModel();
    const cases: [(json: ModelJsonEdit) => unknown, RegExp][] = [
      [() => null, /not a TF\.js layers model \(expected an object/],
      [() => [1, 2], /not a TF\.js layers model/],
      [(j) => ({ ...j, modelTopology: undefined }), /: modelTopology: .*expected record/],
      [(j) => ({ ...j, weightsManifest: { paths: ['weights.bin'] } }), /: weightsManifest: .*expected array/],
      [
        (j) => ({ ...j, weightsManifest: [{ ...j.weightsManifest[0], paths: 'weights.bin' }] }),
        /: weightsManifest\[0\]\.paths: .*expected array, received string/,
      ],
      [(j) => ({ ...j, weightsManifest: [{ weights: j.weightsManifest[0].weights }] }), /: weightsManifest\[0\]\.paths: .*expected array/],
      [
        (j) => ({ ...j, weightsManifest: [{ ...j.weightsManifest[0], weights: [{ ...j.weightsManifest[0].weights[0], shape: '3,3' }] }] }),
        /: weightsManifest\[0\]\.weights\[0\]\.shape: .*expected array, received string/,
      ],
      [
        (j) => ({ ...j, weightsManifest: [{ ...j.weightsManifest[0], weights: [{ ...j.weightsManifest[0].weights[0], shape: [3, -1] }] }] }),
        /: weightsManifest\[0\]\.weights\[0\]\.shape\[1\]: /,
      ],
      [
        (j) => ({ ...j, weightsManifest: [{ ...j.weightsManifest[0], weights: [{ ...j.weightsManifest[0].weights[0], shape: [65536, 65536, 2] }] }] }),
        /: weightsManifest\[0\]\.weights\[0\]\.shape: 8589934592 elements is more than any weight can hold/,
      ],
      [
        (j) => ({ ...j, weightsManifest: [{ ...j.weightsManifest[0], weights: [{ ...j.weightsManifest[0].weights[0], dtype: 'complex64' }] }] }),
        /: weightsManifest\[0\]\.weights\[0\]\.dtype: /,
      ],
      [
        (j) => ({ ...j, weightsManifest: [{ ...j.weightsManifest[0], weights: [{ ...j.weightsManifest[0].weights[0], quantization: { dtype: 'int4' } }] }] }),
        /: weightsManifest\[0\]\.weights\[0\]\.quantization\.dtype: /,
      ],
    ];
    for (const [edit, expected] of cases) {
      rewrite(edit);
      const err = await loadError(path);
      expect(err).toBeInstanceOf(ModelError);
      expect(err.message).toMatch(expected);
      expect(err.message.startsWith(path)).toBe(true);
      expect(err.message).not.toMatch(/\n/);
    }
  });

  it('reads no weight file outside the model folder: not by "..", an absolute path or a link', async () => {
    const { dir, path, rewrite } = await savedModel();
    const outside = tempDir();
    writeFileSync(join(outside, 'secret-weights.bin'), readFileSync(join(dir, 'weights.bin')));
    const withPath = (p: string) => (j: ModelJsonEdit) => ({ ...j, weightsManifest: [{ ...j.weightsManifest[0], paths: [p] }] });

    rewrite(withPath(join('..', '..', outside.slice(1), 'secret-weights.bin')));
    expect((await loadError(path)).message).toMatch(/weightsManifest\[0\]\.paths\[0\] ".*secret-weights\.bin": leaves the model's folder/);
    expect(() => modelFilesBytes(path)).toThrow(/leaves the model's folder/);

    rewrite(withPath(join(outside, 'secret-weights.bin')));
    expect((await loadError(path)).message).toMatch(/weightsManifest\[0\]\.paths\[0\] .*: must be a path relative to the model's folder/);

    symlinkSync(join(outside, 'secret-weights.bin'), join(dir, 'linked.bin'));
    rewrite(withPath('linked.bin'));
    expect((await loadError(path)).message).toMatch(
      /weightsManifest\[0\]\.paths\[0\] "linked\.bin": is a link to .*secret-weights\.bin, outside the model's folder/,
    );

    // A subfolder of the model's folder is inside it.
    mkdirSync(join(dir, 'shards'));
    writeFileSync(join(dir, 'shards', 'w.bin'), readFileSync(join(dir, 'weights.bin')));
    rewrite(withPath('shards/w.bin'));
    const model = await loadModel(path);
    expect(model.layers).toHaveLength(3);
    model.dispose();
  });

  it('the CLI prints one line for a malformed model, and exits 1', async () => {
    const { path, rewrite } = await savedModel();
    rewrite((j) => ({ ...j, weightsManifest: [{ ...j.weightsManifest[0], paths: 'weights.bin' }] }));
    const { status, stderr } = autoprune(['inspect', path]);
    expect(status).toBe(1);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/^autoprune: .*model\.json: weightsManifest\[0\]\.paths: /);
    expect(stderr).not.toMatch(/unexpected error/);
  });
});

describe('four defects a hostile pass found', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it('loadModel reads a file:// URL as the README says; a FIFO as model.json is refused, not read forever', async () => {
    const { path } = await savedModel();
    const model = await loadModel(pathToFileURL(path).href);
    expect(model.layers.length).toBeGreaterThan(0);
    model.dispose();
    const dir = tempDir();
    const fifo = join(dir, 'model.json');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    await expect(loadModel(fifo)).rejects.toThrow(/model\.json: not a regular file/);
    const { status, stderr } = autoprune(['inspect', fifo]);
    expect([status, stderr.trim()]).toEqual([1, `autoprune: ${fifo}: not a regular file`]);
  });

  it('echoes a number flag as it was typed when it is not a number', () => {
    for (const typed of ['abc', '']) {
      const { status, stderr } = autoprune(['prune', '--tolerance', typed]);
      expect(status).toBe(1);
      expect(stderr).toContain(`argument '${typed}' is invalid. expected a number, got "${typed}"`);
    }
  });

  it('says the decoded images were cached only when the cache took them', async () => {
    const dir = writeIdxDataset(tempDir(), { train: 30, test: 10, size: 4 });
    const lines: string[] = [];
    const log = { line: (l: string) => lines.push(l), status: () => {} };
    const readOnly = tempDir();
    chmodSync(readOnly, 0o500);
    await loadData({ dataset: 'mnist', data: dir }, { inputShape: [6, 6, 1], validationSize: 5, cacheDir: join(readOnly, 'cache'), ...decodeProgress(log) });
    chmodSync(readOnly, 0o700);
    // As root the folder stays writable: then the line says where they went.
    expect(lines.at(-1)).toMatch(
      process.getuid?.() === 0 ? /^cached them in .*\.u8 for the next run$/ : /^could not write the cache .*; the next run decodes them again$/,
    );
    const full = join(tempDir(), 'cache');
    writeFileSync(full, 'a file where the cache folder should be');
    lines.length = 0;
    await loadData({ dataset: 'mnist', data: dir }, { inputShape: [6, 6, 1], validationSize: 5, cacheDir: full, ...decodeProgress(log) });
    expect(lines).toEqual(['decoded 40 images', expect.stringMatching(/^could not write the cache .*cache\/[0-9a-f]+\.u8; the next run decodes them again$/)]);
  });
});

describe('hostile data files', () => {
  it('refuses an IDX header with a zero size', () => {
    expect(() => parseIdx(encodeIdx([0, 0, 0], new Uint8Array(0)), 'zero-idx3-ubyte')).toThrow(DataError);
    expect(() => parseIdx(encodeIdx([5, 0, 0], new Uint8Array(0)), 'zero-idx3-ubyte')).toThrow(/zero-idx3-ubyte: IDX header declares a zero size \(5x0x0\)/);
    expect(parseIdx(encodeIdx([2, 1, 1], new Uint8Array([1, 2])), 'ok').dims).toEqual([2, 1, 1]);
  });
});

describe('models the pruner cannot take', () => {
  it('refuses a model with nothing to prune before making a run folder', async () => {
    const dense = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [28, 28, 1] }), tf.layers.dense({ units: 10, activation: 'softmax' })] });
    const path = await saveModel(dense, join(tempDir(), 'dense-only'));
    const emptyRuns = tempDir();
    for (const command of [['prune'], ['compare', '--methods', 'l1'], ['criterion', '--ratio', '0.5']]) {
      const { status, stderr } = autoprune(['--runs-dir', emptyRuns, ...command, '--model', path, '--dataset', 'mnist', '--validation-size', '2000']);
      expect(status, command.join(' ')).toBe(1);
      expect(stderr).toMatch(/dense-only\/model\.json: nothing to prune: no prunable channel group/);
    }
    expect(readdirSync(emptyRuns)).toEqual([]);
  });

  it("refuses models that are not single-output classifiers of the data set's classes, naming the file, before making a run folder", async () => {
    const input = tf.input({ shape: [28, 28, 1] });
    const features = tf.layers
      .conv2d({ filters: 10, kernelSize: 3, padding: 'same' })
      .apply(tf.layers.conv2d({ filters: 8, kernelSize: 3 }).apply(input)) as SymbolicTensor;
    const flat = tf.layers.flatten().apply(features) as SymbolicTensor;
    const scores = (units: number) => tf.layers.dense({ units, activation: 'softmax' }).apply(flat) as SymbolicTensor;
    const dir = tempDir();
    const cases: [string, SymbolicTensor[], RegExp][] = [
      ['two-heads', [scores(10), scores(10)], /two-heads\/model\.json: the model has 1 input and 2 outputs; autoprune prunes classifiers/],
      [
        'feature-map',
        [features],
        /feature-map\/model\.json: the model's output has shape \[batch, 26, 26, 10\]; autoprune prunes classifiers, whose output is \[batch, classes\]/,
      ],
      ['seven-classes', [scores(7)], /seven-classes\/model\.json: the model scores 7 classes but mnist has 10/],
    ];
    const emptyRuns = tempDir();
    for (const [name, outputs, message] of cases) {
      const path = await saveModel(tf.model({ inputs: input, outputs }), join(dir, name));
      for (const command of [['prune'], ['criterion', '--ratio', '0.5']]) {
        const { status, stderr } = autoprune(['--runs-dir', emptyRuns, ...command, '--model', path, '--dataset', 'mnist', '--validation-size', '2000']);
        expect(status, `${name}: ${command[0]}`).toBe(1);
        expect(stderr.trim().split('\n').pop()).toMatch(message);
      }
    }
    expect(readdirSync(emptyRuns)).toEqual([]);
  });
});
