/**
 * A BatchNorm-like layer of the user's own, registered with one entry in the
 * layer-type table (its per-channel weights and which of them are the scale
 * and the moving statistics): the graph traces it, surgery prunes it, the
 * bn-scale criterion reads its scale, candidate recovery and fine-tuning
 * re-estimate its statistics, as they do a BatchNormalization's.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { groupFrontier } from '../../env/activation-cache.js';
import { GroupRecovery } from '../../env/recovery.js';
import { selectBackend } from '../../src/backend/backend.js';
import { floatImages, loadDataset } from '../../src/data/datasets.js';
import { scoreGroups } from '../../src/heuristics/criteria.js';
import { buildGraph } from '../../src/prune/graph.js';
import { registerLayerType } from '../../src/prune/layer-types.js';
import { pruneModel } from '../../src/prune/surgery.js';
import { recalibrateBatchNorm } from '../../src/train/train.js';

/** Normalises each channel by running statistics, then scales and shifts it (inference only: enough for what autoprune does with it). */
class ChannelNorm extends tf.layers.Layer {
  static className = 'ChannelNorm';
  private weightsByName: Record<string, tf.LayerVariable> = {};
  build(inputShape: tf.Shape | tf.Shape[]): void {
    const channels = (inputShape as tf.Shape).at(-1)!;
    for (const [name, init] of [
      ['scale', tf.initializers.randomUniform({ minval: 0.2, maxval: 2, seed: 1 })],
      ['offset', tf.initializers.zeros()],
      ['running_mean', tf.initializers.zeros()],
      ['running_var', tf.initializers.ones()],
    ] as const)
      this.weightsByName[name] = this.addWeight(name, [channels], 'float32', init, undefined, !name.startsWith('running'));
    this.built = true;
  }
  call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const w = this.weightsByName;
    return tf.tidy(() =>
      tf.add(tf.mul(tf.div(tf.sub([inputs].flat()[0], w.running_mean.read()), tf.sqrt(tf.add(w.running_var.read(), 1e-3))), w.scale.read()), w.offset.read()),
    );
  }
  getClassName(): string {
    return ChannelNorm.className;
  }
}
tf.serialization.registerClass(ChannelNorm);

registerLayerType('ChannelNorm', {
  kind: 'passthrough',
  rule: ({ inputRefs: [input] }) => ({ axes: { scale: { 0: input }, offset: { 0: input }, running_mean: { 0: input }, running_var: { 0: input } } }),
  normalization: { scale: 'scale', movingMean: 'running_mean', movingVariance: 'running_var' },
});

const L = tf.layers;

function model(): tf.LayersModel {
  const input = tf.input({ shape: [28, 28, 1] });
  let x = L.conv2d({ filters: 6, kernelSize: 3, strides: 2, name: 'conv1', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }).apply(input);
  x = L.reLU().apply(new ChannelNorm({ name: 'norm1' }).apply(x));
  x = L.conv2d({ filters: 4, kernelSize: 3, strides: 2, name: 'conv2', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }).apply(x);
  x = new ChannelNorm({ name: 'norm2' }).apply(x);
  const output = L.dense({ units: 10, activation: 'softmax', name: 'fc' }).apply(L.flatten().apply(x)) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: output });
}

const weightOf = (m: tf.LayersModel, layer: string, name: string) =>
  m
    .getLayer(layer)
    .weights.find((w) => w.originalName.endsWith(name))!
    .read();

describe('a BatchNorm-like layer of your own', () => {
  const data = loadDataset('mnist', { seed: 0, validationSize: 100, trainLimit: 256, testLimit: 10 });
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it('is pruned with its group, and bn-scale reads its scale', async () => {
    const m = model();
    const graph = buildGraph(m);
    const [group] = graph.prunableGroups();
    expect(group.members.map((member) => member.layer)).toEqual(['conv1', 'norm1', 'conv2']);
    const scores = scoreGroups('bn-scale', { graph, seed: 0 }, graph.prunableGroups());
    expect(Array.from(scores.get(group.id)!)).toEqual(Array.from(await tf.abs(weightOf(m, 'norm1', 'scale')).data()));
    const pruned = await pruneModel(graph, new Map([[group.id, [0, 2, 5]]]));
    expect(weightOf(pruned, 'norm1', 'running_var').shape).toEqual([3]);
  });

  it("has its statistics re-estimated by fine-tuning's BatchNorm pass and by candidate recovery", async () => {
    const m = model();
    await recalibrateBatchNorm(m, data.train, data.inputShape, 256, 0);
    // The second layer's input on those images: its running mean is their mean per channel.
    const images = tf.tensor4d(floatImages(data.train, data.inputShape), [data.train.count, ...data.inputShape]);
    const conv2 = tf.model({ inputs: m.inputs, outputs: m.getLayer('conv2').output as tf.SymbolicTensor });
    const expected = tf.tidy(() => tf.moments(conv2.predict(images) as tf.Tensor, [0, 1, 2]).mean);
    expect(Math.max(...(await tf.abs(tf.sub(weightOf(m, 'norm2', 'running_mean'), expected)).data()))).toBeLessThan(1e-4);

    const graph = buildGraph(m);
    const [group] = graph.prunableGroups();
    const { affected, frontier } = groupFrontier(graph, group);
    const config = { adaptiveBatchNorm: true, reconstruction: false, samples: 64, maxReconstructionInputs: 512 };
    const recovery = GroupRecovery.create(graph, group, affected, images.slice(0, 64), frontier, config);
    expect(recovery.batchNorms).toEqual(['norm2']);
    recovery.dispose();
    tf.dispose([images, expected]);
  });
});
