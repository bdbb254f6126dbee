/** The numbers every pruning run reports: cost, reduction, measured speed, accuracy. */
import type * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../data/datasets.js';
import { modelFilesBytes } from '../models/io.js';
import type { WeightsDtype } from '../models/quantize.js';
import { percent } from '../text.js';
import { accuracyOf, correctness, evaluateAccuracy } from '../train/train.js';
import { testDrop } from '../certify/certification.js';
import { availableParallelism, loadavg } from 'node:os';
import { measureLatency, measureSpeedup, modelCost, reduction, SPEEDUP_ROUNDS, sizeOnDisk } from '../prune/metrics.js';
import { timed } from '../phases.js';

export interface ModelSummary {
  params: number;
  macs: number;
  bytesOnDisk: number;
  latencyMs: { batch1: number; batch256: number };
  validationAccuracy: number;
  testAccuracy: number;
}

export interface PruneReport {
  original: ModelSummary;
  pruned: ModelSummary;
  compressionRatio: number;
  theoreticalSpeedup: number;
  /** The two models timed in turn (measureSpeedup): the median ratio per batch size. */
  measuredSpeedup: { batch1: number; batch256: number };
  /** Lowest and highest ratio over the alternated rounds. */
  speedupSpread?: { batch1: [number, number]; batch256: [number, number] };
  /** The 1-minute load average and core count when the speedup was measured: a busy machine blurs it. */
  machine?: { loadAverage: number; cores: number };
  /** Accuracy points lost, validation (the split choices were made on) and test. */
  validationDrop: number;
  testDrop: number;
  /** The test drop's two-sided interval at the run's confidence (paired: both models on the same images), points. */
  testDropInterval?: [number, number];
}

/** How a model's size on disk is measured: its files (`path`, a model.json), or as saveModel writes it with `weightsDtype`. */
export interface DiskSize {
  path?: string;
  weightsDtype?: WeightsDtype;
  /** Time the model alone (batch 1 and 256); off where the caller times it against another model. */
  latency?: boolean;
}

export async function summariseModel(model: tf.LayersModel, data: Dataset, disk: DiskSize = {}): Promise<ModelSummary> {
  return (await summaryAndTestAnswers(model, data, disk)).summary;
}

/** The summary, and which test images the model gets right (the report pairs them with the other model's). */
async function summaryAndTestAnswers(model: tf.LayersModel, data: Dataset, disk: DiskSize): Promise<{ summary: ModelSummary; testRight: Uint8Array }> {
  const cost = modelCost(model);
  // The test split is read here, for the final report only.
  const testRight = await correctness(model, data.test, data.inputShape);
  const summary = {
    params: cost.params,
    macs: cost.macs,
    bytesOnDisk: disk.path !== undefined ? modelFilesBytes(disk.path) : await sizeOnDisk(model, disk.weightsDtype),
    latencyMs:
      disk.latency === false
        ? { batch1: Number.NaN, batch256: Number.NaN }
        : {
            batch1: (await measureLatency(model, 1, { repeats: 30, inputShape: data.inputShape })).medianMs,
            batch256: (await measureLatency(model, 256, { repeats: 5, inputShape: data.inputShape })).medianMs,
          },
    validationAccuracy: await evaluateAccuracy(model, data.validation, data.inputShape),
    testAccuracy: accuracyOf(testRight),
  };
  return { summary, testRight };
}

export interface PruneReportOptions {
  /** The original's summary when already taken (one baseline, many pruned models). */
  before?: ModelSummary;
  /** The original's model.json: its size on disk is that of its files. */
  originalPath?: string;
  /** How the pruned model's weights are (or will be) saved. */
  weightsDtype?: WeightsDtype;
  /** Confidence of the test drop's interval (default 0.95). */
  confidence?: number;
}

export const pruneReport = (original: tf.LayersModel, pruned: tf.LayersModel, data: Dataset, options: PruneReportOptions = {}): Promise<PruneReport> =>
  timed('report', () => reportOf(original, pruned, data, options));

async function reportOf(original: tf.LayersModel, pruned: tf.LayersModel, data: Dataset, options: PruneReportOptions): Promise<PruneReport> {
  // Latency is timed below, the two models alternated.
  const { summary: before, testRight: originalRight } =
    options.before === undefined
      ? await summaryAndTestAnswers(original, data, { path: options.originalPath, weightsDtype: options.weightsDtype, latency: false })
      : { summary: options.before, testRight: await correctness(original, data.test, data.inputShape) };
  const { summary: after, testRight: prunedRight } = await summaryAndTestAnswers(pruned, data, { weightsDtype: options.weightsDtype, latency: false });
  // The test split, read for this report only: the drop with its interval, both models on the same images.
  const test = testDrop(originalRight, prunedRight, options.confidence ?? 0.95);
  const { compressionRatio, theoreticalSpeedup } = reduction(before, after);
  const loadAverage = loadavg()[0];
  const shape = { inputShape: data.inputShape };
  const [one, many] = await timed('latency', async () => [
    await measureSpeedup(original, pruned, 1, shape),
    await measureSpeedup(original, pruned, 256, shape),
  ]);
  return {
    original: { ...before, latencyMs: { batch1: one.originalMs, batch256: many.originalMs } },
    pruned: { ...after, latencyMs: { batch1: one.prunedMs, batch256: many.prunedMs } },
    compressionRatio,
    theoreticalSpeedup,
    measuredSpeedup: { batch1: one.speedup, batch256: many.speedup },
    speedupSpread: { batch1: one.spread, batch256: many.spread },
    machine: { loadAverage: Math.max(loadAverage, loadavg()[0]), cores: availableParallelism() },
    validationDrop: 100 * (before.validationAccuracy - after.validationAccuracy),
    testDrop: 100 * (accuracyOf(originalRight) - accuracyOf(prunedRight)),
    testDropInterval: test.interval,
  };
}

const speedup = (x: number, spread?: [number, number]) =>
  `${x.toFixed(2)}x${spread === undefined ? '' : `, rounds ${spread[0].toFixed(2)}-${spread[1].toFixed(2)}x`}`;

export function formatReport(r: PruneReport): string[] {
  return [
    `parameters ${r.original.params.toLocaleString('en-US')} -> ${r.pruned.params.toLocaleString('en-US')} (compression ${r.compressionRatio.toFixed(2)}x)`,
    `MACs/image ${r.original.macs.toLocaleString('en-US')} -> ${r.pruned.macs.toLocaleString('en-US')} (theoretical speedup ${r.theoreticalSpeedup.toFixed(2)}x)`,
    `latency batch 1 ${r.original.latencyMs.batch1.toFixed(2)} -> ${r.pruned.latencyMs.batch1.toFixed(2)} ms (${speedup(r.measuredSpeedup.batch1, r.speedupSpread?.batch1)}); ` +
      `batch 256 ${r.original.latencyMs.batch256.toFixed(1)} -> ${r.pruned.latencyMs.batch256.toFixed(1)} ms (${speedup(r.measuredSpeedup.batch256, r.speedupSpread?.batch256)})` +
      (r.machine === undefined
        ? ''
        : `; ${SPEEDUP_ROUNDS} alternated rounds each, load average ${r.machine.loadAverage.toFixed(1)} on ${r.machine.cores} cores`),
    `size on disk ${(r.original.bytesOnDisk / 1024).toFixed(0)} KiB -> ${(r.pruned.bytesOnDisk / 1024).toFixed(0)} KiB`,
    `validation accuracy ${percent(r.original.validationAccuracy)} -> ${percent(r.pruned.validationAccuracy)} (${r.validationDrop >= 0 ? '-' : '+'}${Math.abs(r.validationDrop).toFixed(2)} points)`,
    `test accuracy ${percent(r.original.testAccuracy)} -> ${percent(r.pruned.testAccuracy)} (${r.testDrop >= 0 ? '-' : '+'}${Math.abs(r.testDrop).toFixed(2)} points${r.testDropInterval === undefined ? '' : `; drop interval ${r.testDropInterval[0].toFixed(2)} to ${r.testDropInterval[1].toFixed(2)}`})`,
  ];
}

export interface LayerWidth {
  layer: string;
  kept: number;
  total: number;
}

/** Filters (conv) or units (dense) per layer, pruned against original; the output layer is left out. */
export function layerWidths(original: tf.LayersModel, pruned: tf.LayersModel): LayerWidth[] {
  const width = (layer: tf.layers.Layer) => {
    const config = layer.getConfig();
    return (config.filters ?? config.units) as number | undefined;
  };
  const outputs = new Set(original.outputLayers.map((l) => l.name));
  return original.layers.flatMap((layer) => {
    const total = width(layer);
    if (total === undefined || outputs.has(layer.name)) return [];
    return [{ layer: layer.name, kept: width(pruned.getLayer(layer.name)) ?? total, total }];
  });
}
