/**
 * The latency model: which widths each layer's time follows, interpolation,
 * the latency reward, the side-by-side timing, and the browser target
 * (headless Chromium; skipped with one line where none is installed, never
 * in CI).
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { phi } from '../../env/reward.js';
import { selectBackend } from '../../src/backend/backend.js';
import { readLatencyFile } from '../../src/latency/for-run.js';
import { timeSideBySide } from '../../src/latency/side-by-side.js';
import { channelCosts, checkLatencyTable, type LatencyTable, latencyShares, layerMs, measureLatencyTable, predictLatency } from '../../src/latency/table.js';
import { findChromium, type LatencyTarget, openChromium, thisProcess } from '../../src/latency/target.js';
import { buildZooModel } from '../../src/models/zoo.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { autoprune, record, trainTinyBaseline } from '../cli-helpers.js';
import { tempDir } from '../helpers.js';

/** A target whose "time" is the model's MACs in millions plus 0.1 ms: timing without noise, so the arithmetic can be checked exactly. */
function macsTarget(): LatencyTarget {
  const macsOf = (model: tf.LayersModel) =>
    model.layers.reduce((sum, layer) => {
      const config = layer.getConfig() as { filters?: number; units?: number; kernelSize?: number[] };
      const out = layer.outputShape as number[];
      const input = (layer.input as tf.SymbolicTensor).shape as number[];
      if (config.filters !== undefined) return sum + out[1] * out[2] * out[3] * config.kernelSize![0] * config.kernelSize![1] * input[3];
      if (config.units !== undefined) return sum + out[1] * input[1];
      return sum;
    }, 0);
  return {
    name: 'this',
    description: 'MACs',
    time: async (models, _batch, { rounds = 5 } = {}) => models.map((m) => Array.from({ length: rounds }, () => macsOf(m) / 1e6 + 0.1)),
    close: async () => {},
  };
}

describe('the latency table', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it("follows each layer's widths through the groups, and predicts a pruned LeNet-5's cost from its layers", async () => {
    const model = buildZooModel('lenet5', { inputShape: [28, 28, 1], numClasses: 10, seed: 0 });
    const table = await measureLatencyTable(model, macsTarget());
    const layer = (name: string) => table.layers.find((l) => l.layer === name)!;
    // conv2 reads conv1's channels and writes its own: two axes; fc1 reads 4 x 4 positions of conv2's channels.
    expect(layer('conv2')).toMatchObject({ tied: false, input: { fixed: 0, perGroup: { 0: 1 } }, output: { fixed: 0, perGroup: { 1: 1 } } });
    expect(layer('conv2').inputWidths).toEqual([1, 5, 10, 15, 20]);
    expect(layer('fc1').input).toEqual({ fixed: 0, perGroup: { 1: 16 } });
    expect(layer('pool1').tied).toBe(true);
    expect(layer('fc2').output).toEqual({ fixed: 10, perGroup: {} });
    // Every layer's time at full width, plus what the network adds beyond them, is the whole network's.
    expect(predictLatency(table, {})).toBeCloseTo(table.wholeMs, 10);
    // A "time" linear in MACs: interpolation at grid points is exact, and the prediction of a pruning matches its measurement.
    const check = await checkLatencyTable(model, table, macsTarget(), { prunings: 3 });
    for (const p of check.prunings) expect(p.error).toBeLessThan(0.05);
    expect(layerMs(layer('conv2'), { 0: 10, 1: 25 }, table.groups)).toBeCloseTo((8 * 8 * 25 * 25 * 10) / 1e6, 8);
    // The groups' shares of time and the time a channel saves, as the budget and cost-aware ranking read them.
    const shares = latencyShares(table, [0, 1, 2]);
    expect([...shares.values()].reduce((a, b) => a + b, 0)).toBeCloseTo(1, 10);
    expect(shares.get(1)).toBeGreaterThan(shares.get(0)!); // conv2's group touches conv2 and fc1
    const costs = channelCosts(table);
    expect(costs[1]).toBeGreaterThan(costs[2]); // a conv2 filter costs 64 x 500 MACs of conv2 and 16 x 500 of fc1, an fc1 unit 800 + 10
    model.dispose();
  });

  it('reads a table back only for the network it was measured on, with one-line errors', async () => {
    const model = buildZooModel('lenet5', { inputShape: [28, 28, 1], numClasses: 10, seed: 0 });
    const table = await measureLatencyTable(model, macsTarget());
    const dir = tempDir();
    writeFileSync(join(dir, 'latency.json'), JSON.stringify({ table }));
    expect(readLatencyFile(join(dir, 'latency.json'), model).table.wholeMs).toBe(table.wholeMs);
    writeFileSync(join(dir, 'other.json'), JSON.stringify({ table: { ...table, groups: { 0: 20, 1: 40, 2: 500 } } }));
    expect(() => readLatencyFile(join(dir, 'other.json'), model)).toThrow(/other\.json: measured on a network with groups .* not this one's/);
    writeFileSync(join(dir, 'bad.json'), '{"table": 3}');
    expect(() => readLatencyFile(join(dir, 'bad.json'), model)).toThrow(/bad\.json: not a latency table/);
    model.dispose();
  });

  it('gives the latency reward the log of the predicted times', () => {
    const table = { layers: [], offsetMs: 2, scale: 1, groups: {} } as unknown as LatencyTable;
    expect(predictLatency(table, {})).toBe(2);
    expect(phi({ baseAccuracy: 1, accuracy: 1, total: 10, kept: 5, latency: { total: 4, pruned: 2 } }, 'latency')).toBeCloseTo(Math.log(2), 12);
    expect(() => phi({ baseAccuracy: 1, accuracy: 1, total: 10, kept: 5 }, 'latency')).toThrow(/needs predicted times/);
  });

  it('times models side by side in this process: a smaller model is faster in most rounds', async () => {
    const wide = tf.sequential({ layers: [tf.layers.dense({ inputShape: [512], units: 2048 }), tf.layers.dense({ units: 10 })] });
    const narrow = tf.sequential({ layers: [tf.layers.dense({ inputShape: [512], units: 64 }), tf.layers.dense({ units: 10 })] });
    const timed = await timeSideBySide(wide, [narrow], thisProcess(), [1, 32], 5);
    expect(timed.unpruned.batches.map((b) => b.speedup)).toEqual([1, 1]);
    for (const b of timed.models[0].batches) {
      expect(b.speedup).toBeGreaterThan(1);
      expect(b.spread[0]).toBeLessThanOrEqual(b.speedup);
      expect(b.spread[1]).toBeGreaterThanOrEqual(b.speedup);
    }
    wide.dispose();
    narrow.dispose();
  });
});

describe('the browser target', () => {
  const chromium = findChromium();
  if (chromium === undefined && process.env.CI === undefined) console.log('no Chromium installed: the browser target is not tested here (CI installs it)');

  it.runIf(chromium !== undefined || process.env.CI !== undefined)(
    "times models in a headless Chromium page with tfjs's wasm and webgl backends",
    async () => {
      await selectBackend('wasm');
      // 4M against 16K multiply-adds: apart by far more than a shared machine's noise.
      const wide = tf.sequential({ layers: [tf.layers.dense({ inputShape: [1024], units: 4096 }), tf.layers.dense({ units: 10 })] });
      const narrow = tf.sequential({ layers: [tf.layers.dense({ inputShape: [1024], units: 16 }), tf.layers.dense({ units: 10 })] });
      for (const backend of ['wasm', 'webgl'] as const) {
        const target = await openChromium(backend);
        try {
          expect(target.description).toMatch(new RegExp(`^Chrome/[\\d.]+ ${backend}$`));
          const samples = await target.time([wide, narrow], 1, { rounds: 5, minBlockMs: 20 });
          expect(samples.map((s) => s.length)).toEqual([5, 5]);
          for (const s of samples) for (const ms of s) expect(ms).toBeGreaterThan(0);
          if (backend === 'wasm') expect(Math.min(...samples[1])).toBeLessThan(Math.min(...samples[0]));
        } finally {
          await target.close();
        }
      }
      wide.dispose();
      narrow.dispose();
    },
    120_000,
  );
});

describe('compare with phi: latency', () => {
  it('measures one latency table for every method, and ranks the rows by measured time', () => {
    const runsDir = tempDir();
    const configPath = join(runsDir, 'tiny.json');
    trainTinyBaseline(runsDir, configPath);
    const { status, stdout, stderr } = autoprune([
      '--runs-dir',
      runsDir,
      'compare',
      '--config',
      configPath,
      '--methods',
      'rl,l1',
      '--probes',
      '2',
      '--set',
      'phi=latency',
      '--set',
      'agent.maxIterations=2',
      '--set',
      'agent.minIterations=0',
    ]);
    expect(status, stderr).toBe(0);
    expect(stderr).toMatch(/latency: whole network [\d.]+ ms; the table predicts \d+ random prunings within [\d.]+% on average/);
    const dir = join(runsDir, stdout.trim());
    const table = readFileSync(join(dir, 'latency.json'), 'utf8');
    const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
    // The agent decided with the compare's table, kept in its own run folder too.
    const agentRun = results.rows.find((r: { method: string }) => r.method === 'rl').runId;
    expect(readFileSync(join(runsDir, agentRun, 'latency.json'), 'utf8')).toBe(table);
    expect(record(runsDir, agentRun).config.latency.table).toBe(join(dir, 'latency.json'));
    for (const row of results.rows) expect(row.latency.batches.map((b: { batch: number }) => b.batch)).toEqual([1]);
    expect(results.unpruned.latency.batches[0].speedup).toBe(1);
    expect(stderr).toMatch(
      /\ntime at batch 1 \(wasm in this process \(1 thread\)\): agent [\d.]+x, best criterion [\d.]+x \(.+\), [\d.]+ times; (the agent leads|the criterion leads|a tie)/,
    );
  }, 600_000);
});
