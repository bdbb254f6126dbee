import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend/backend.js';
import { loadModel, saveModel } from '../../src/models/io.js';
import { buildZooModel, ZOO_NAMES } from '../../src/models/zoo.js';
import { tempDir } from '../helpers.js';

const options = { inputShape: [28, 28, 1] as [number, number, number], numClasses: 10, seed: 7 };

async function sameOutputs(a: tf.LayersModel, b: tf.LayersModel): Promise<number> {
  const x = tf.randomUniform([4, 28, 28, 1], 0, 1, 'float32', 1);
  const [ya, yb] = [a.predict(x) as tf.Tensor, b.predict(x) as tf.Tensor];
  const diff = (await tf.max(tf.abs(tf.sub(ya, yb))).data())[0];
  tf.dispose([x, ya, yb]);
  return diff;
}

describe('model zoo', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it('builds the Caffe LeNet-5 with 431,080 parameters', () => {
    const model = buildZooModel('lenet5', options);
    expect(model.countParams()).toBe(520 + 25050 + 400500 + 5010);
    expect(model.layers.map((l) => l.getClassName())).toEqual(['Conv2D', 'MaxPooling2D', 'Conv2D', 'MaxPooling2D', 'Flatten', 'Dense', 'Dense']);
    model.dispose();
  });

  it('builds vgg-small as conv-BN-ReLU blocks 32-32-64-64-128-128 and resnet-small with residual adds', () => {
    const vgg = buildZooModel('vgg-small', options);
    expect(vgg.layers.filter((l) => l.getClassName() === 'Conv2D').map((l) => (l.getConfig() as { filters: number }).filters)).toEqual([
      32, 32, 64, 64, 128, 128,
    ]);
    expect(vgg.layers.filter((l) => l.getClassName() === 'BatchNormalization')).toHaveLength(6);
    const resnet = buildZooModel('resnet-small', options);
    const adds = resnet.layers.filter((l) => l.getClassName() === 'Add');
    expect(adds).toHaveLength(4);
    expect(resnet.layers.filter((l) => l.name.endsWith('_proj'))).toHaveLength(2);
    for (const model of [vgg, resnet]) {
      expect((model.outputs[0].shape as number[]).slice(1)).toEqual([10]);
      model.dispose();
    }
  });

  it('gives the same weights for the same seed (0 included) and different ones for another seed', async () => {
    for (const name of ZOO_NAMES) {
      for (const seed of [0, 7]) {
        const [a, b, c] = [
          buildZooModel(name, { ...options, seed }),
          buildZooModel(name, { ...options, seed }),
          buildZooModel(name, { ...options, seed: seed + 1 }),
        ];
        expect(await sameOutputs(a, b)).toBe(0);
        expect(await sameOutputs(a, c)).toBeGreaterThan(0);
        [a, b, c].forEach((m) => m.dispose());
      }
    }
  });

  it('rejects an unknown model name, listing the known ones', () => {
    expect(() => buildZooModel('alexnet', options)).toThrow(/unknown model "alexnet"; choose one of lenet5, vgg-small, resnet-small/);
  });
});

describe('model files', () => {
  it('round-trips every zoo model through model.json + weights.bin with identical outputs', async () => {
    for (const name of ZOO_NAMES) {
      const dir = tempDir();
      const model = buildZooModel(name, options);
      const path = await saveModel(model, dir);
      const json = JSON.parse(readFileSync(path, 'utf8'));
      expect(json.format).toBe('layers-model');
      const loaded = await loadModel(dir);
      expect(await sameOutputs(model, loaded)).toBe(0);
      // The file is the standard format: TF.js's own loader reads it too.
      const viaTf = await tf.loadLayersModel(
        tf.io.fromMemory(json.modelTopology, json.weightsManifest[0].weights, new Uint8Array(readFileSync(join(dir, 'weights.bin'))).buffer),
      );
      expect(await sameOutputs(model, viaTf)).toBe(0);
      [model, loaded, viaTf].forEach((m) => m.dispose());
    }
  });

  it('names the file at fault for corrupt JSON, graph models, and missing or short weights', async () => {
    const dir = tempDir();
    const model = buildZooModel('lenet5', options);
    const path = await saveModel(model, dir);
    const good = readFileSync(path, 'utf8');

    writeFileSync(path, '{"format": "layers-model", ');
    await expect(loadModel(path)).rejects.toThrow(new RegExp(`${path}: not valid JSON`));

    writeFileSync(path, JSON.stringify({ format: 'graph-model', modelTopology: {}, weightsManifest: [] }));
    await expect(loadModel(path)).rejects.toThrow(/graph model; only layers models/);

    writeFileSync(path, good);
    const weights = join(dir, 'weights.bin');
    writeFileSync(weights, readFileSync(weights).subarray(0, 1000));
    await expect(loadModel(path)).rejects.toThrow(/weights\.bin: weight data is 1000 bytes but .* declares 1724320 bytes/);

    rmSync(weights);
    await expect(loadModel(path)).rejects.toThrow(/weights\.bin: weight file listed in .* is missing/);
    await expect(loadModel(join(dir, 'nope.json'))).rejects.toThrow(/nope\.json: model file not found/);
    model.dispose();
  });
});
