/** Library misuse: the exported functions check what they are given and throw the project's typed errors, one clear line each. */
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend/backend.js';
import { loadModel } from '../../src/models/io.js';
import { buildGraph } from '../../src/prune/graph.js';
import { pruneModel } from '../../src/prune/surgery.js';
import { prune } from '../../src/run/prune.js';
import { tinyModel } from './helpers.js';
import { DataError, ModelError, PruneError } from '../../src/errors.js';

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
