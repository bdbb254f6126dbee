import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend/backend.js';
import { loadModel, saveModel } from '../../src/models/io.js';
import { buildZooModel, isZooName, makeDivisible, ZOO_NAMES } from '../../src/models/zoo.js';
import { buildGraph } from '../../src/prune/graph.js';
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

  it("builds MobileNetV2 as keras.applications.MobileNetV2 does: Keras's parameter counts, layer names, padding before strided depthwise convs", () => {
    // Keras's own counts (include_top, 1000 classes, 224 px): 3,538,984 at alpha 1.0, 6,156,712 at 1.4.
    for (const [name, params] of [
      ['mobilenetv2', 3_538_984],
      ['mobilenetv2-1.4', 6_156_712],
    ] as const) {
      const model = buildZooModel(name, { inputShape: [224, 224, 3], numClasses: 1000, seed: 0 });
      expect(model.countParams()).toBe(params);
      model.dispose();
    }
    expect([8, 11.2, 16 * 0.35, 1280 * 1.3].map((v) => makeDivisible(v))).toEqual([8, 16, 8, 1664]);
    const model = buildZooModel('mobilenetv2-0.35', { inputShape: [96, 96, 3], numClasses: 10, seed: 0 });
    expect(model.name).toBe('mobilenetv2_0.35_96');
    const names = model.layers.map((l) => l.name);
    expect(names.slice(0, 12)).toEqual([
      'input_layer',
      'Conv1',
      'bn_Conv1',
      'Conv1_relu',
      'expanded_conv_depthwise',
      'expanded_conv_depthwise_BN',
      'expanded_conv_depthwise_relu',
      'expanded_conv_project',
      'expanded_conv_project_BN',
      'block_1_expand',
      'block_1_expand_BN',
      'block_1_expand_relu',
    ]);
    expect(names.slice(-5)).toEqual(['Conv_1', 'Conv_1_bn', 'out_relu', 'global_average_pooling2d', 'predictions']);
    // A ZeroPadding2D before each of the four strided depthwise convs, none elsewhere; 10 residual adds.
    expect(names.filter((n) => n.endsWith('_pad'))).toEqual(['block_1_pad', 'block_3_pad', 'block_6_pad', 'block_13_pad']);
    expect(names.filter((n) => n.endsWith('_add'))).toHaveLength(10);
    const relu = model.getLayer('block_5_expand_relu').getConfig() as { maxValue: number };
    expect([model.getLayer('block_5_expand_relu').getClassName(), relu.maxValue]).toEqual(['ReLU', 6]);
    expect(model.getLayer('block_1_pad').getConfig().padding).toEqual([
      [0, 1],
      [0, 1],
    ]);
    expect(model.getLayer('bn_Conv1').getConfig()).toMatchObject({ epsilon: 1e-3, momentum: 0.999 });
    model.dispose();
    expect(['mobilenetv2-0.35', 'mobilenetv2-1', 'mobilenetv2-x', 'mobilenetv2-0', 'mobilenetv2-3'].map(isZooName)).toEqual([true, true, false, false, false]);
  });

  it("prunes MobileNetV2 in the groups its adds imply: each stage's projections together, every expansion (with its depthwise) alone", () => {
    const model = buildZooModel('mobilenetv2-0.35', { inputShape: [96, 96, 3], numClasses: 10, seed: 0 });
    const groups = buildGraph(model)
      .prunableGroups()
      .map((g) => `${g.producers.join('+')}:${g.size}`);
    // Stages of stride-1 blocks with the same width add their input to their output: their projections share channels.
    const stages = [[1, 2], [3, 4, 5], [6, 7, 8, 9], [10, 11, 12], [13, 14, 15], [16]].map((blocks) => blocks.map((b) => `block_${b}_project`).join('+'));
    expect(groups.filter((g) => g.includes('_project') && !g.startsWith('expanded'))).toEqual(
      stages.map((stage, i) => `${stage}:${[24, 32, 64, 96, 160, 320].map((c) => makeDivisible(Math.trunc(c * 0.35)))[i]}`),
    );
    expect(groups.filter((g) => g.includes('_expand'))).toHaveLength(16);
    for (const g of groups.filter((x) => x.includes('_expand'))) expect(g).toMatch(/^block_\d+_expand:\d+$/);
    expect(groups.filter((g) => !g.includes('block_'))).toEqual(['Conv1:16', 'expanded_conv_project:8', 'Conv_1:1280']);
    model.dispose();
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
