/** One test per coupling pattern: the pruned model equals the original with the removed channels forced to zero. */
import * as tf from '@tensorflow/tfjs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend/backend.js';
import { isNested } from '../../src/models/flatten.js';
import { loadModel, saveModel } from '../../src/models/io.js';
import { buildZooModel, ZOO_NAMES } from '../../src/models/zoo.js';
import { buildGraph } from '../../src/prune/graph.js';
import { registerLayerType } from '../../src/prune/layer-types.js';
import { pruneModel } from '../../src/prune/surgery.js';
import { tempDir } from '../helpers.js';
import { maxOutputDiff, randomizeWeights, randomPlan, zeroedReference } from '../prune-helpers.js';
import { GraphError, PruneError } from '../../src/errors.js';

const TOLERANCE = 1e-4;
const L = tf.layers;

/** Prunes a random half of every prunable group and compares with the zeroed reference. */
async function checkPruning(model: tf.LayersModel, seed = 'plan') {
  randomizeWeights(model);
  const graph = buildGraph(model);
  const plan = randomPlan(graph, seed);
  const originalWeights = await Promise.all(model.getWeights().map((w) => w.data()));
  const pruned = await pruneModel(graph, plan);
  const reference = await zeroedReference(model, graph, plan);
  const diff = await maxOutputDiff(pruned, reference);
  expect(diff).toBeLessThan(TOLERANCE);
  expect(pruned.countParams()).toBeLessThan(model.countParams());
  // The original is untouched.
  expect(await Promise.all(model.getWeights().map((w) => w.data()))).toEqual(originalWeights);
  expect(await maxOutputDiff(model, reference)).toBeGreaterThan(TOLERANCE); // the plan did change the function
  return { graph, plan, pruned };
}

function functional(build: (input: tf.SymbolicTensor) => tf.SymbolicTensor, inputShape = [8, 8, 3]) {
  const input = tf.input({ shape: inputShape });
  return tf.model({ inputs: input, outputs: build(input) });
}

const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) => layer.apply(x) as tf.SymbolicTensor;

describe('pruning by coupling pattern', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it('conv -> conv (Sequential): output channels of one, input channels of the next', async () => {
    const model = tf.sequential({
      layers: [L.conv2d({ inputShape: [8, 8, 3], filters: 6, kernelSize: 3 }), L.conv2d({ filters: 5, kernelSize: 3 }), L.flatten(), L.dense({ units: 4 })],
    });
    const { pruned, plan, graph } = await checkPruning(model);
    const conv1Kept = plan.get(graph.groups.find((g) => g.producers[0] === model.layers[0].name)!.id)!.length;
    expect(pruned.layers[0].getWeights()[0].shape).toEqual([3, 3, 3, conv1Kept]);
    expect(pruned.layers[1].getWeights()[0].shape[2]).toBe(conv1Kept);
  });

  it('conv -> BatchNorm -> ReLU -> conv: BN gamma, beta, moving mean and variance follow the conv', async () => {
    const model = tf.sequential({
      layers: [
        L.conv2d({ inputShape: [8, 8, 3], filters: 8, kernelSize: 3, padding: 'same', useBias: false }),
        L.batchNormalization(),
        L.reLU(),
        L.conv2d({ filters: 4, kernelSize: 3 }),
        L.globalAveragePooling2d({}),
        L.dense({ units: 3 }),
      ],
    });
    const { graph, plan, pruned } = await checkPruning(model);
    const group = graph.groups[0];
    expect(group.members.map((m) => m.role)).toEqual(['out', 'channel', 'in']);
    expect(pruned.layers[1].getWeights().map((w) => w.shape[0])).toEqual(Array(4).fill(plan.get(0)!.length));
  });

  it('conv -> pool -> flatten -> dense: NHWC flatten interleaves channels (index k*C + c)', async () => {
    const model = tf.sequential({
      layers: [
        L.conv2d({ inputShape: [8, 8, 2], filters: 6, kernelSize: 3 }),
        L.maxPooling2d({ poolSize: 2 }),
        L.flatten(),
        L.dense({ units: 7, activation: 'relu' }),
        L.dense({ units: 3 }),
      ],
    });
    const { plan, pruned } = await checkPruning(model);
    expect(pruned.layers[3].getWeights()[0].shape).toEqual([3 * 3 * plan.get(0)!.length, plan.get(1)!.length]);
  });

  it('residual add with an identity shortcut: both branches and the consumers form one group', async () => {
    const model = functional((x) => {
      const stem = apply(L.conv2d({ filters: 6, kernelSize: 3, padding: 'same', name: 'stem' }), x);
      const branch = apply(L.conv2d({ filters: 6, kernelSize: 3, padding: 'same', name: 'branch' }), apply(L.reLU(), stem));
      const sum = apply(L.add({ name: 'sum' }), [stem, branch]);
      return apply(L.dense({ units: 3 }), apply(L.globalAveragePooling2d({}), sum));
    });
    const { graph } = await checkPruning(model);
    expect(graph.groups.find((g) => g.producers.includes('stem'))!.producers).toEqual(['stem', 'branch']);
  });

  it('residual add with a 1x1 projection shortcut and BN on both paths', async () => {
    const model = functional((x) => {
      const a = apply(L.batchNormalization({}), apply(L.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', name: 'main' }), x));
      const b = apply(L.batchNormalization({}), apply(L.conv2d({ filters: 4, kernelSize: 1, strides: 2, name: 'proj' }), x));
      const y = apply(L.activation({ activation: 'relu' }), apply(L.add({}), [a, b]));
      return apply(L.dense({ units: 3 }), apply(L.flatten(), apply(L.conv2d({ filters: 5, kernelSize: 3 }), y)));
    });
    const { graph } = await checkPruning(model);
    expect(graph.groups.find((g) => g.producers.includes('main'))!.producers).toEqual(['main', 'proj']);
  });

  it('concatenate: channel offsets map each input into the output, also through flatten', async () => {
    const model = functional((x) => {
      const a = apply(L.conv2d({ filters: 3, kernelSize: 3, name: 'a' }), x);
      const b = apply(L.conv2d({ filters: 5, kernelSize: 3, name: 'b' }), x);
      const joined = apply(L.concatenate({}), [a, b, a]);
      const c = apply(L.conv2d({ filters: 4, kernelSize: 3 }), joined);
      return apply(
        L.dense({ units: 3 }),
        apply(L.flatten(), apply(L.concatenate({}), [c, apply(L.maxPooling2d({ poolSize: 1, strides: 1 }), apply(L.zeroPadding2d({ padding: 0 }), c))])),
      );
    });
    await checkPruning(model, 'concat');
  });

  it('depthwise conv passes channels through (multiplier 1 and 2); separable conv prunes both sides', async () => {
    const model = functional((x) => {
      const a = apply(L.conv2d({ filters: 6, kernelSize: 1, name: 'a' }), x);
      const d1 = apply(L.depthwiseConv2d({ kernelSize: 3, padding: 'same' }), a);
      const d2 = apply(L.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2 }), d1);
      const s = apply(L.separableConv2d({ filters: 5, kernelSize: 3, depthMultiplier: 2, name: 's' }), d2);
      return apply(L.dense({ units: 3 }), apply(L.globalMaxPooling2d({}), s));
    });
    const { graph } = await checkPruning(model, 'depthwise');
    expect(graph.groups.find((g) => g.producers.includes('a'))!.members.filter((m) => m.role === 'channel')).toHaveLength(2);
  });

  // MobileNetV2 at width 0.35: the same layers and coupling as at 1.0, a ninth of the weights to check.
  it.each(ZOO_NAMES.map((name) => (name === 'mobilenetv2' ? 'mobilenetv2-0.35' : name)))('zoo model %s', async (name) => {
    await checkPruning(buildZooModel(name, { inputShape: [28, 28, 1], numClasses: 10, seed: 0 }), name);
  });

  it('flattens nested models (a functional base with a residual add, a Sequential head, inside a Sequential) and prunes across them', async () => {
    const parts = (suffix: string) => {
      const baseInput = tf.input({ shape: [8, 8, 3], name: `base_input${suffix}` });
      const stem = apply(L.conv2d({ filters: 6, kernelSize: 3, padding: 'same', name: `base_stem${suffix}` }), baseInput);
      const branch = apply(
        L.batchNormalization({ name: `base_bn${suffix}` }),
        apply(L.conv2d({ filters: 6, kernelSize: 3, padding: 'same', name: `base_conv${suffix}` }), stem),
      );
      const base = tf.model({ name: `base${suffix}`, inputs: baseInput, outputs: apply(L.add({ name: `base_add${suffix}` }), [stem, branch]) });
      const head = tf.sequential({
        name: `head${suffix}`,
        layers: [
          L.flatten({ name: `head_flatten${suffix}`, inputShape: [8, 8, 6] }),
          L.dense({ units: 5, activation: 'relu', name: `head_fc${suffix}` }),
          L.dense({ units: 3, name: `head_out${suffix}` }),
        ],
      });
      return [base, head];
    };
    // As Teachable Machine exports it (the base first), and as Keras writes Sequential([Input, base, head]).
    const nested = tf.sequential({ name: 'transfer', layers: parts('') });
    const withInput = tf.sequential({ name: 'transfer_input', layers: [L.inputLayer({ inputShape: [8, 8, 3], name: 'image' }), ...parts('_k')] });
    for (const [model, names] of [
      [nested, ['base_input', 'base_stem', 'base_conv', 'base_bn', 'base_add', 'head_flatten', 'head_fc', 'head_out']],
      [withInput, ['image', 'base_stem_k', 'base_conv_k', 'base_bn_k', 'base_add_k', 'head_flatten_k', 'head_fc_k', 'head_out_k']],
    ] as const) {
      randomizeWeights(model);
      expect(() => buildGraph(model)).toThrow(/layer "base(_k)?" \(Model\) is a nested model: flatten the model first/);
      const dir = tempDir();
      await saveModel(model, dir);
      const flat = await loadModel(join(dir, 'model.json'));
      expect(isNested(flat)).toBe(false);
      expect(flat.layers.map((l) => l.name)).toEqual(names);
      expect(await maxOutputDiff(model, flat)).toBe(0); // the same function, the same weights
      const { graph } = await checkPruning(flat);
      // The residual add couples the stem and the branch inside the base; the head's hidden layer is its own group.
      expect(graph.prunableGroups().map((g) => g.producers)).toEqual([[names[1], names[2]], [names[6]]]);
    }
  });
});

/** A custom layer: a learned scale per channel. autoprune does not know it until it is registered. */
class ChannelScale extends tf.layers.Layer {
  static className = 'ChannelScale';
  private scale?: tf.LayerVariable;
  build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = inputShape as tf.Shape;
    this.scale = this.addWeight('scale', [shape[shape.length - 1]!], 'float32', tf.initializers.ones());
    this.built = true;
  }
  call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => tf.mul([inputs].flat()[0], this.scale!.read()));
  }
  getClassName(): string {
    return ChannelScale.className;
  }
}
tf.serialization.registerClass(ChannelScale);

describe('a layer type of your own', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it('is traced and pruned once registered: one entry saying how its channels pass and which weight axis follows them', async () => {
    const build = () =>
      functional((x) => {
        const conv = apply(L.conv2d({ filters: 6, kernelSize: 3, activation: 'relu' }), x);
        const scaled = apply(new ChannelScale({}), conv);
        return apply(L.dense({ units: 3 }), apply(L.flatten({}), scaled));
      });
    expect(() => buildGraph(build())).toThrow(/\(ChannelScale\): autoprune cannot trace channels through this layer type/);
    registerLayerType('ChannelScale', { kind: 'passthrough', rule: ({ inputRefs: [input] }) => ({ axes: { scale: { 0: input } } }) });
    const { graph, plan, pruned } = await checkPruning(build());
    expect(graph.prunableGroups().map((g) => g.members.map((m) => `${graph.node(m.layer).className}:${m.role}`))).toEqual([
      ['Conv2D:out', 'ChannelScale:channel', 'Dense:in'],
    ]);
    const scale = pruned.layers.find((l) => l.getClassName() === 'ChannelScale')!;
    expect(scale.getWeights()[0].shape).toEqual([plan.get(graph.prunableGroups()[0].id)!.length]);
  });
});

describe('what cannot be pruned', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  const lenet = () => buildZooModel('lenet5', { inputShape: [28, 28, 1], numClasses: 10, seed: 0 });

  it('never prunes the classifier output, nor a group tied to the model input', async () => {
    const graph = buildGraph(lenet());
    const out = graph.groups.find((g) => g.producers.includes('fc2'))!;
    expect(out.prunable).toBe(false);
    expect(out.reason).toMatch(/feeds the model output "fc2"/);
    await expect(pruneModel(graph, new Map([[out.id, [0, 1]]]))).rejects.toThrow(/group 3 \(fc2\) cannot be pruned: feeds the model output/);

    const tied = buildGraph(
      functional((x) => apply(L.dense({ units: 2 }), apply(L.flatten(), apply(L.add({}), [x, apply(L.conv2d({ filters: 3, kernelSize: 1, name: 'c' }), x)])))),
    );
    expect(tied.groups.find((g) => g.producers.includes('c'))!.reason).toBe('connected to the model input');
  });

  it('rejects an empty keep list, a channel that does not exist, a duplicate, and an unknown group', async () => {
    const graph = buildGraph(lenet());
    await expect(pruneModel(graph, new Map([[0, []]]))).rejects.toThrow(/group 0 \(conv1\): the keep list is empty/);
    await expect(pruneModel(graph, new Map([[0, [0, 20]]]))).rejects.toThrow(/group 0 \(conv1\): channel 20 does not exist \(the group has channels 0..19\)/);
    await expect(pruneModel(graph, new Map([[1, [3, 3]]]))).rejects.toThrow(/channel 3 is listed twice/);
    await expect(pruneModel(graph, new Map([[9, [0]]]))).rejects.toThrow(PruneError);
  });

  it('stops at a layer type it does not understand, naming the layer and its class', () => {
    const model = tf.sequential({
      layers: [
        L.conv2d({ inputShape: [8, 8, 3], filters: 4, kernelSize: 3, name: 'c1' }),
        L.reshape({ targetShape: [36, 4], name: 'squash' }),
        L.flatten(),
        L.dense({ units: 2 }),
      ],
    });
    expect(() => buildGraph(model)).toThrow(GraphError);
    expect(() => buildGraph(model)).toThrow(/layer "squash" \(Reshape\): autoprune cannot trace channels through this layer type/);
  });

  it('keeps channels mixed by a softmax over channels', () => {
    const graph = buildGraph(tf.sequential({ layers: [L.dense({ inputShape: [4], units: 6, name: 'd1' }), L.softmax(), L.dense({ units: 2 })] }));
    expect(graph.groups[0].prunable).toBe(false);
    expect(graph.groups[0].reason).toMatch(/softmax over channels/);
  });
});
