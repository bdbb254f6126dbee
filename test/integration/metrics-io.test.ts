import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend/backend.js';
import { loadModel, saveModel } from '../../src/models/io.js';
import { buildZooModel } from '../../src/models/zoo.js';
import { buildGraph } from '../../src/prune/graph.js';
import { measureLatency, measureSpeedup, modelCost, reduction, sizeOnDisk } from '../../src/prune/metrics.js';
import { pruneModel } from '../../src/prune/surgery.js';
import { tempDir } from '../helpers.js';
import { maxOutputDiff, randomizeWeights, randomPlan } from '../prune-helpers.js';

const zoo = { inputShape: [28, 28, 1] as [number, number, number], numClasses: 10, seed: 0 };
const keepFirst = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('metrics', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it('counts LeNet-5 parameters and MACs as computed by hand', () => {
    const cost = modelCost(buildZooModel('lenet5', zoo));
    const byName = Object.fromEntries(cost.layers.map((l) => [l.name, [l.params, l.macs]]));
    expect(byName.conv1).toEqual([5 * 5 * 1 * 20 + 20, 24 * 24 * 20 * 5 * 5 * 1]);
    expect(byName.conv2).toEqual([5 * 5 * 20 * 50 + 50, 8 * 8 * 50 * 5 * 5 * 20]);
    expect(byName.fc1).toEqual([800 * 500 + 500, 800 * 500]);
    expect(byName.fc2).toEqual([500 * 10 + 10, 500 * 10]);
    expect(byName.pool1).toEqual([0, 0]);
    expect([cost.params, cost.macs]).toEqual([431_080, 288_000 + 1_600_000 + 400_000 + 5_000]);
  });

  it('gives compression ratio and theoretical speedup of a pruned LeNet-5 by hand', async () => {
    const model = buildZooModel('lenet5', zoo);
    // conv1 20 -> 10, conv2 50 -> 25, fc1 500 -> 250.
    const pruned = await pruneModel(
      buildGraph(model),
      new Map([
        [0, keepFirst(10)],
        [1, keepFirst(25)],
        [2, keepFirst(250)],
      ]),
    );
    const after = modelCost(pruned);
    const params = 25 * 10 + 10 + 25 * 10 * 25 + 25 + 400 * 250 + 250 + 250 * 10 + 10;
    const macs = 24 * 24 * 10 * 25 + 8 * 8 * 25 * 25 * 10 + 400 * 250 + 250 * 10;
    expect([after.params, after.macs]).toEqual([params, macs]);
    const r = reduction(modelCost(model), after);
    expect(r.compressionRatio).toBeCloseTo(431_080 / params, 10);
    expect(r.theoreticalSpeedup).toBeCloseTo(2_293_000 / macs, 10);
  });

  it('measures latency (median of repeats) and size on disk, both smaller after pruning', async () => {
    const model = buildZooModel('vgg-small', zoo);
    const pruned = await pruneModel(buildGraph(model), randomPlan(buildGraph(model), 'size', 0.3));
    const [before, after] = [await measureLatency(model, 8, { repeats: 5 }), await measureLatency(pruned, 8, { repeats: 5 })];
    expect(before.medianMs).toBeGreaterThan(0);
    expect(before.repeats).toBe(5);
    expect(after.medianMs).toBeLessThan(before.medianMs);
    expect(await sizeOnDisk(pruned)).toBeLessThan(await sizeOnDisk(model));
    // Alternated: every round times both; the speedup is the median round's ratio, inside the rounds' spread.
    const speedup = await measureSpeedup(model, pruned, 8, { rounds: 3, repeats: 2 });
    expect(speedup.rounds).toBe(3);
    expect(speedup.speedup).toBeGreaterThanOrEqual(speedup.spread[0]);
    expect(speedup.speedup).toBeLessThanOrEqual(speedup.spread[1]);
    expect(speedup.speedup).toBeGreaterThan(1);
    expect(speedup.originalMs).toBeGreaterThan(speedup.prunedMs);
  });

  it('times a model of open input size at the size it is given, and asks for one otherwise', async () => {
    const open = tf.sequential({
      layers: [tf.layers.conv2d({ inputShape: [null, null, 3], filters: 4, kernelSize: 3 }), tf.layers.globalAveragePooling2d({})],
    });
    await expect(measureLatency(open, 1)).rejects.toThrow(
      "measureLatency: the model's input size is open ([?, ?, 3]); give inputShape, the size of your images",
    );
    expect((await measureLatency(open, 2, { repeats: 2, inputShape: [16, 16, 3] })).medianMs).toBeGreaterThan(0);
    expect((await measureSpeedup(open, open, 1, { rounds: 1, repeats: 1, inputShape: [16, 16, 3] })).rounds).toBe(1);
    open.dispose();
  });
});

describe('pruned model files', () => {
  it('save in the layers format and reload with tf.loadLayersModel giving the same outputs', async () => {
    for (const name of ['vgg-small', 'resnet-small']) {
      const model = buildZooModel(name, zoo);
      randomizeWeights(model);
      const pruned = await pruneModel(buildGraph(model), randomPlan(buildGraph(model), name));
      const dir = tempDir();
      await saveModel(pruned, dir);
      const reloaded = await loadModel(join(dir, 'model.json'));
      expect(await maxOutputDiff(pruned, reloaded)).toBe(0);
      expect(reloaded.countParams()).toBe(pruned.countParams());
      [model, pruned, reloaded].forEach((m) => m.dispose());
    }
  });
});

describe('autoprune inspect', () => {
  const run = (args: string[]) => spawnSync('node', ['bin/autoprune.mjs', ...args], { encoding: 'utf8' });

  it('prints the layer table and the groups of a zoo model, or JSON', () => {
    const text = run(['inspect', 'lenet5']);
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/conv1\s+Conv2D\s+\[N,24,24,20\]\s+520\s+288,000\s+0\s+-\s+yes/);
    expect(text.stdout).toMatch(/fc2\s+Dense\s+\[N,10\]\s+5,010\s+5,000\s+3\s+2\s+no\n/);
    expect(text.stdout).toMatch(/group 3: 10 channels, not prunable: feeds the model output "fc2"\n {2}producers: fc2/);
    expect(text.stdout).toMatch(/total: 431,080 parameters, 2,293,000 MACs per image/);
    expect(text.stdout).toMatch(/3 prunable groups, 570 prunable channels/);
    // A residual model's groups couple many layers: every line still fits 120 columns.
    const residual = run(['inspect', 'resnet-small']).stdout;
    expect(Math.max(...residual.split('\n').map((line) => line.length))).toBeLessThanOrEqual(120);
    expect(residual).toMatch(
      /group 3: 32 channels, prunable\n {2}producers: stage2_block1_conv2, stage2_block1_proj, stage2_block2_conv2\n {2}coupled: {3}stage2_block1_bn2 \(channel\)/,
    );
    const json = JSON.parse(run(['inspect', 'resnet-small', '--json']).stdout);
    expect(json.groups[0].producers).toEqual(['stem_conv', 'stage1_block1_conv2']);
    expect(json.totals.prunableGroups).toBe(7);
  });

  it("inspects a run's model by the run id", async () => {
    await selectBackend('wasm');
    const runsDir = tempDir();
    const model = buildZooModel('lenet5', zoo);
    const plan = new Map([[0, [0, 1, 2, 3]]]); // conv1 keeps 4 of 20
    const pruned = await pruneModel(buildGraph(model), plan);
    await saveModel(pruned, join(runsDir, '20261122-114137-prune-lenet5-mnist-8d50', 'model'));
    const text = run(['--runs-dir', runsDir, 'inspect', '20261122-114137-prune-lenet5-mnist-8d50']);
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/3 prunable groups, 554 prunable channels/);
    model.dispose();
    pruned.dispose();
  });

  it('reads a user model.json and explains what it cannot prune', async () => {
    await selectBackend('wasm');
    const dir = tempDir();
    await saveModel(buildZooModel('vgg-small', zoo), dir);
    expect(run(['inspect', join(dir, 'model.json')]).stdout).toMatch(/block3b_conv\s+Conv2D/);

    writeFileSync(join(dir, 'graph.json'), JSON.stringify({ format: 'graph-model', modelTopology: {}, weightsManifest: [] }));
    const graph = run(['inspect', join(dir, 'graph.json')]);
    expect(graph.status).toBe(1);
    expect(graph.stderr).toMatch(/graph\.json: is a TF\.js graph model; only layers models/);

    const reshape = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 2, kernelSize: 3, name: 'c' }),
        tf.layers.reshape({ targetShape: [72], name: 'to_vector' }),
        tf.layers.dense({ units: 2 }),
      ],
    });
    const dir2 = tempDir();
    await saveModel(reshape, dir2);
    const unsupported = run(['inspect', dir2]);
    expect(unsupported.status).toBe(1);
    expect(unsupported.stderr).toMatch(/layer "to_vector" \(Reshape\): autoprune cannot trace channels through this layer type/);
  });
});
