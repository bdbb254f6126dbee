/** Planted structure: each criterion must rank the planted useless channels lowest. */
import * as tf from '@tensorflow/tfjs';
import seedrandom from 'seedrandom';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend/backend.js';
import type { Split } from '../../src/data/datasets.js';
import { scoreGroups, topChannels, type CriterionName } from '../../src/heuristics/criteria.js';
import { buildGraph } from '../../src/prune/graph.js';
import { CriterionError } from '../../src/errors.js';

const L = tf.layers;
const DEAD = [1, 4, 6]; // planted useless filters of conv "a" (8 filters)

function setLayerWeights(layer: tf.layers.Layer, values: Float32Array[], seed: number) {
  const rng = seedrandom(String(seed));
  layer.setWeights(layer.getWeights().map((w, i) => tf.tensor(values[i] ?? Float32Array.from({ length: w.size }, () => rng() - 0.5), w.shape)));
}

/** conv a (8 filters, relu) -> conv b -> gap -> dense; filters in DEAD have zero weights and a negative bias (never active). */
function plantedModel() {
  const model = tf.sequential({
    layers: [
      L.conv2d({ inputShape: [6, 6, 2], filters: 8, kernelSize: 3, activation: 'relu', name: 'a' }),
      L.conv2d({ filters: 4, kernelSize: 3, activation: 'relu', name: 'b' }),
      L.globalAveragePooling2d({ name: 'gap' }),
      L.dense({ units: 3, name: 'out' }),
    ],
  });
  const rng = seedrandom('planted');
  const kernel = new Float32Array(3 * 3 * 2 * 8);
  for (let i = 0; i < kernel.length; i++) kernel[i] = DEAD.includes(i % 8) ? 0 : rng() + 0.2;
  const bias = Float32Array.from({ length: 8 }, (_, c) => (DEAD.includes(c) ? -1 : 0.1));
  setLayerWeights(model.layers[0], [kernel, bias], 1);
  setLayerWeights(model.layers[1], [], 2);
  setLayerWeights(model.layers[3], [], 3);
  return model;
}

function positiveData(count = 64): Split {
  const rng = seedrandom('data');
  return { images: Float32Array.from({ length: count * 72 }, () => rng()), labels: Uint8Array.from({ length: count }, (_, i) => i % 3), count };
}

const lowest = (scores: Float32Array, n: number) =>
  topChannels(
    scores.map((s) => -s),
    n,
  );

describe('criteria on planted structure', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it.each(['l1', 'l2', 'apoz', 'mean-activation', 'taylor'] as CriterionName[])('%s ranks the all-zero filters lowest', (criterion) => {
    const graph = buildGraph(plantedModel());
    const data = { split: positiveData(), inputShape: [6, 6, 2] as [number, number, number], numClasses: 3, samples: 64, batchSize: 16 };
    const scores = scoreGroups(criterion, { graph, data, seed: 0 }, graph.prunableGroups()).get(0)!;
    expect(scores).toHaveLength(8);
    expect(lowest(scores, 3)).toEqual(DEAD);
    expect(Math.min(...[0, 2, 3, 5, 7].map((c) => scores[c]))).toBeGreaterThan(Math.max(...DEAD.map((c) => scores[c])));
  });

  it('bn-scale ranks channels with gamma = 0 lowest, leaves groups without BatchNorm out, and names them when none has it', () => {
    const model = tf.sequential({
      layers: [
        L.conv2d({ inputShape: [6, 6, 2], filters: 6, kernelSize: 3, name: 'c' }),
        L.batchNormalization({ name: 'bn' }),
        L.flatten(),
        L.dense({ units: 5, name: 'fc' }),
        L.dense({ units: 2 }),
      ],
    });
    const bn = model.getLayer('bn');
    bn.setWeights([tf.tensor1d([0.5, 0, -1.2, 0, 0.8, 0.3]), ...bn.getWeights().slice(1)]);
    const graph = buildGraph(model);
    expect(lowest(scoreGroups('bn-scale', { graph, seed: 0 }, [graph.groups[0]]).get(0)!, 2)).toEqual([1, 3]);
    expect([...scoreGroups('bn-scale', { graph, seed: 0 }, graph.prunableGroups()).keys()]).toEqual([0]);
    expect(() => scoreGroups('bn-scale', { graph, seed: 0 }, [graph.groups[1]])).toThrow(
      new CriterionError('criterion bn-scale: no BatchNormalization with a scale (gamma) follows any prunable group: group 1 (fc)'),
    );
  });

  it('fpgm ranks duplicated filters at the geometric median lowest', () => {
    const model = tf.sequential({ layers: [L.dense({ inputShape: [4], units: 6, name: 'd' }), L.dense({ units: 2 })] });
    const rows = [
      [3, 0, 0, 0],
      [-3, 0, 0, 0],
      [0, 3, 0, 0],
      [0, 0, 0, 0], // the median of the others...
      [0, -3, 0, 0],
      [0, 0, 0, 0], // ...duplicated
    ];
    const kernel = tf.transpose(tf.tensor2d(rows)); // [in, out]
    model.layers[0].setWeights([kernel, tf.zeros([6])]);
    const graph = buildGraph(model);
    expect(lowest(scoreGroups('fpgm', { graph, seed: 0 }, [graph.groups[0]]).get(0)!, 2)).toEqual([3, 5]);
  });

  it('random is seeded: same seed same scores, other seed other scores', () => {
    const graph = buildGraph(plantedModel());
    const score = (seed: number) => Array.from(scoreGroups('random', { graph, seed }, graph.prunableGroups()).get(0)!);
    expect(score(1)).toEqual(score(1));
    expect(score(1)).not.toEqual(score(2));
  });

  it('data-driven criteria without data fail with a clear error', () => {
    const graph = buildGraph(plantedModel());
    expect(() => scoreGroups('taylor', { graph, seed: 0 }, graph.prunableGroups())).toThrow(CriterionError);
    expect(() => scoreGroups('apoz', { graph, seed: 0 }, graph.prunableGroups())).toThrow(/criterion apoz needs data/);
  });

  it('scores residual groups over all producers and leaves no tensors behind', () => {
    const input = tf.input({ shape: [6, 6, 2] });
    const a = L.conv2d({ filters: 4, kernelSize: 1, name: 'p1' }).apply(input) as tf.SymbolicTensor;
    const b = L.conv2d({ filters: 4, kernelSize: 1, name: 'p2' }).apply(a) as tf.SymbolicTensor;
    const sum = L.reLU().apply(L.add().apply([a, b])) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: L.dense({ units: 2 }).apply(L.flatten().apply(sum)) as tf.SymbolicTensor });
    const graph = buildGraph(model);
    const data = { split: positiveData(), inputShape: [6, 6, 2] as [number, number, number], numClasses: 2, samples: 32, batchSize: 16 };
    const before = tf.memory().numTensors;
    for (const criterion of ['l1', 'fpgm', 'apoz', 'taylor'] as CriterionName[]) {
      const scores = scoreGroups(criterion, { graph, data, seed: 0 }, graph.prunableGroups());
      expect(scores.get(graph.groups.find((g) => g.producers.includes('p1'))!.id)).toHaveLength(4);
    }
    expect(tf.memory().numTensors).toBe(before);
    const [p1, p2] = ['p1', 'p2'].map((n) => model.getLayer(n).getWeights()[0]);
    const expectedL1 = tf.add(tf.sum(tf.abs(p1), [0, 1, 2]), tf.sum(tf.abs(p2), [0, 1, 2])).dataSync();
    const l1 = scoreGroups('l1', { graph, seed: 0 }, [graph.groups[0]]).get(0)!;
    l1.forEach((v, i) => expect(v).toBeCloseTo(expectedL1[i], 4));
  });
});
