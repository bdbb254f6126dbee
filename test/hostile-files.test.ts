/**
 * Hostile and malformed input: a model.json that is not what it says, weight
 * paths that climb out of the model's folder, zero-size IDX headers, run ids
 * that are paths, a full disk, and library calls with the wrong arguments.
 * Each gives one line naming the file and the field, never a TypeError.
 */
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../src/backend/backend.js';
import { DataError, encodeIdx, parseIdx } from '../src/data/idx.js';
import { loadModel, modelFilesBytes, saveModel } from '../src/models/io.js';
import { ModelError } from '../src/models/zoo.js';
import { buildGraph } from '../src/prune/graph.js';
import { PruneError, pruneModel } from '../src/prune/surgery.js';
import { prune } from '../src/run/prune.js';
import { describeWriteFault, RunError, Run, recordFailure } from '../src/runs/records.js';
import { autoprune } from './cli-helpers.js';
import { tempDir } from './helpers.js';

function tinyModel(): tf.LayersModel {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [6, 6, 1], filters: 3, kernelSize: 3, name: 'conv' }),
      tf.layers.flatten({ name: 'flat' }),
      tf.layers.dense({ units: 2, name: 'out' }),
    ],
  });
}

/** A model.json as these tests edit it. */
type ModelJsonEdit = { weightsManifest: { paths: unknown; weights: Record<string, unknown>[] }[]; [field: string]: unknown };

/** A saved tiny model, and a function that rewrites its model.json with `edit`. */
async function savedModel(): Promise<{ dir: string; path: string; rewrite: (edit: (json: ModelJsonEdit) => unknown) => void }> {
  const dir = tempDir();
  const model = tinyModel();
  const path = await saveModel(model, dir);
  model.dispose();
  const good = readFileSync(path, 'utf8');
  return { dir, path, rewrite: (edit) => writeFileSync(path, JSON.stringify(edit(JSON.parse(good)))) };
}

async function loadError(path: string): Promise<Error> {
  const err = await loadModel(path).then(
    () => undefined,
    (e: Error) => e,
  );
  if (err === undefined) throw new Error(`${path} loaded`);
  return err;
}

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

describe('hostile data files', () => {
  it('refuses an IDX header with a zero size', () => {
    expect(() => parseIdx(encodeIdx([0, 0, 0], new Uint8Array(0)), 'zero-idx3-ubyte')).toThrow(DataError);
    expect(() => parseIdx(encodeIdx([5, 0, 0], new Uint8Array(0)), 'zero-idx3-ubyte')).toThrow(/zero-idx3-ubyte: IDX header declares a zero size \(5x0x0\)/);
    expect(parseIdx(encodeIdx([2, 1, 1], new Uint8Array([1, 2])), 'ok').dims).toEqual([2, 1, 1]);
  });
});

describe('run ids and faults', () => {
  it('takes a run id only as a plain folder name, before touching any file', async () => {
    const runsDir = tempDir();
    for (const id of ['../../etc', '/etc/passwd', 'a/b', '..', 'x\\..\\y', '']) {
      await expect(Run.open(runsDir, id)).rejects.toThrow(RunError);
      await expect(Run.open(runsDir, id)).rejects.toThrow(/is not a run id/);
    }
    await expect(Run.open(runsDir, '20261204-074731-compare-lenet5-mnist-4648')).rejects.toThrow(/not found/);
    for (const command of [
      ['show', '../../etc'],
      ['resume', '/etc'],
      ['report', '../x'],
    ]) {
      const { status, stderr } = autoprune(['--runs-dir', runsDir, ...command]);
      expect(status).toBe(1);
      expect(stderr).toMatch(/^autoprune: ".*" is not a run id/);
    }
  });

  it('a full disk is one line naming the file, and the run says how to resume', async () => {
    let full: unknown;
    try {
      writeFileSync('/dev/full', 'x'); // a real ENOSPC
    } catch (err) {
      full = err;
    }
    expect(describeWriteFault(full)).toBe('cannot write a file: no space left on the device (ENOSPC)'); // a failed write(2) names no path; writeFileAtomic adds it
    expect(describeWriteFault(new TypeError('x'))).toBeUndefined();
    const run = await Run.create(tempDir(), { command: 'prune', label: 'lenet5-mnist', config: {}, backend: 'wasm', result: {} });
    await recordFailure(run, full);
    expect((full as Error).message).toBe(
      `cannot write a file: no space left on the device (ENOSPC); every finished step is kept: free the space or fix the permission, then \`autoprune resume ${run.id}\``,
    );
    expect(run.record.status).toBe('failed');
  });
});

describe('library arguments', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it('checks what the exported functions are given', async () => {
    const model = tinyModel();
    const split = { images: new Float32Array(36 * 4), labels: new Uint8Array(4), count: 4 };
    const data = {
      name: 'tiny',
      source: 'memory',
      inputShape: [6, 6, 1] as [number, number, number],
      numClasses: 2,
      train: split,
      validation: split,
      test: split,
    };
    await expect(prune(null as never, data)).rejects.toThrow(new ModelError('prune: expected a TF.js layers model (tf.LayersModel), got null'));
    await expect(prune(model, null as never)).rejects.toThrow(new DataError('prune: expected a data set (as loadDataset returns), got null'));
    await expect(prune(model, { ...data, validation: undefined } as never)).rejects.toThrow(/prune: data\.validation must be a split/);
    await expect(pruneModel(buildGraph(model), {} as never)).rejects.toThrow(PruneError);
    await expect(pruneModel(buildGraph(model), {} as never)).rejects.toThrow(/pruneModel: the plan must be a Map .*got an empty object/);
    await expect(loadModel(42 as never)).rejects.toThrow(new ModelError('loadModel: expected the path of a model.json or of its folder, got a number (42)'));
    expect(() => buildGraph({} as never)).toThrow(/buildGraph: expected a TF\.js layers model .*got an empty object/);
    model.dispose();
  });
});
