/** `autoprune baseline`: prune with a hand-made criterion, to a ratio or to an accuracy tolerance. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import type { BackendChoice } from '../backend/backend.js';
import type { Dataset, PixelScaling } from '../data/datasets.js';
import { type DataSource, dataKey, loadData } from '../data/load.js';
import { checkCriterion, describeResolution, type HeuristicConfig, type HeuristicEvent, prunableSizes, pruneToRatio, pruneToTolerance, type ToleranceSearch } from '../heuristics/pipeline.js';
import { formatShape, hasUnknownInputSize, inputShapeOf, withInputShape } from '../models/input-shape.js';
import { saveModel, weightsDtypeOf } from '../models/io.js';
import type { WeightsDtype } from '../models/quantize.js';
import { PIXEL_SCALING } from '../run/config.js';
import { ModelError } from '../models/zoo.js';
import { checkPrunable } from '../prune/graph.js';
import { formatReport, pruneReport } from '../prune/report.js';
import { findBaseline, loadBaseline } from '../runs/baselines.js';
import { guardRun, modelShortName, Run } from '../runs/records.js';
import { DEFAULT_BATCHNORM_IMAGES, DEFAULT_TRAIN_CONFIG } from '../train/train.js';
import type { ProgressLog } from './log.js';
import { trainCommand } from './train-command.js';
import { plural } from './table.js';

export interface ModelSourceOptions extends DataSource {
  /** Zoo name (newest finished train run, trained now if there is none), run id, or model.json path. */
  model: string;
  /** How the model expects its pixels scaled (default 0..1). */
  scaling?: PixelScaling;
  validationSize?: number;
  seed: number;
  /** Seed of the train / validation split; default: the one the baseline was trained with (its run record), else 0. */
  splitSeed?: number;
  runsDir: string;
  /** Epochs for the baseline when one has to be trained first. */
  trainEpochs: number;
}

export interface BaselineOptions extends ModelSourceOptions {
  heuristic: HeuristicConfig;
  /** How the pruned model's float32 weights are saved (default: as the baseline's are). */
  weightsDtype?: WeightsDtype;
  /** Exactly one of ratio and search. */
  ratio?: number;
  search?: ToleranceSearch;
}

/**
 * Loads the data and the trained model to prune, training one first when a
 * zoo name has none yet. The validation images are carved from the training
 * files with the baseline's own split seed, so that a pruning run at another
 * seed never checks its tolerance on images the baseline was trained on.
 */
export async function trainedModelAndData(options: ModelSourceOptions, backend: BackendChoice, log: ProgressLog): Promise<{ data: Dataset; model: tf.LayersModel; source: string; splitSeed: number; scaling: PixelScaling }> {
  let source = findBaseline(options.model, dataKey(options), options.runsDir);
  if (source.kind === 'none') {
    log.line(`no trained ${options.model} for ${dataKey(options)} in ${options.runsDir}/: training one first (${options.trainEpochs} epochs)`);
    const { model, dataset, data, dataDir, scaling, validationSize, runsDir } = options;
    const run = await trainCommand({ ...DEFAULT_TRAIN_CONFIG, batchNormImages: DEFAULT_BATCHNORM_IMAGES, model, dataset, data, dataDir, scaling, validationSize, seed: options.splitSeed ?? options.seed, epochs: options.trainEpochs, runsDir }, backend, log);
    source = { kind: 'run', path: join(run.dir, 'model', 'model.json'), runId: run.id };
  }
  let model = await loadBaseline(source);
  try {
    checkClassifier(model, source.path);
    const trained = trainingConfig(source.path);
    const splitSeed = options.splitSeed ?? trained?.seed ?? 0;
    const scaling = options.scaling ?? trained?.scaling ?? '0..1';
    const data = await loadModelData(options, model, { validationSize: options.validationSize, seed: splitSeed, scaling }, log);
    log.line(`validation split: seed ${splitSeed}${options.splitSeed === undefined ? " (the baseline's)" : ''}, ${data.validation.count} images`);
    if (options.scaling === undefined && trained?.scaling !== undefined) log.line(`pixel scaling: ${JSON.stringify(scaling)} (the baseline's)`);
    model = await atDataSize(model, data, source.path, log);
    checkModelFitsData(model, data, source.path);
    log.line(`baseline: ${source.path}`);
    return { data, model, source: source.path, splitSeed, scaling };
  } catch (err) {
    model.dispose();
    throw err;
  }
}

/**
 * The data for `model`: a folder of images is decoded to its input shape
 * (a model with unknown input dimensions takes the first image's size, and
 * its own channel count where it has one); decoding shows progress.
 */
export async function loadModelData(source: DataSource, model: tf.LayersModel, options: { validationSize?: number; seed: number; scaling?: PixelScaling }, log: ProgressLog): Promise<Dataset> {
  const shape = inputShapeOf(model);
  const fixed = shape.length === 3 && shape.every((d) => d !== null) ? (shape as [number, number, number]) : undefined;
  return loadData(source, { ...options, inputShape: fixed, channels: shape[2] ?? undefined, onProgress: (decoded, total) => log.decodeProgress(decoded, total) });
}

/** `model` itself, or (when its input size is unknown) a copy at the data's image size; a replaced model is disposed. */
export async function atDataSize(model: tf.LayersModel, data: Dataset, source: string, log: ProgressLog): Promise<tf.LayersModel> {
  if (!hasUnknownInputSize(model)) return model;
  const fixed = await withInputShape(model, data.inputShape, source);
  log.line(`the model's input is ${formatShape(inputShapeOf(model))}: pruned and measured at the data's ${formatShape(data.inputShape)}`);
  model.dispose();
  return fixed;
}

/** A classifier: one image input, one output of [batch, classes]. */
function checkClassifier(model: tf.LayersModel, path: string): void {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new ModelError(`${path}: the model has ${plural(model.inputs.length, 'input')} and ${plural(model.outputs.length, 'output')}; autoprune prunes classifiers with one image input and one output of class scores`);
  }
  const outputShape = model.outputs[0].shape;
  if (outputShape.length !== 2) {
    throw new ModelError(`${path}: the model's output has shape [${outputShape.map((d) => d ?? 'batch').join(', ')}]; autoprune prunes classifiers, whose output is [batch, classes]`);
  }
}

function checkModelFitsData(model: tf.LayersModel, data: Dataset, path: string): void {
  const modelShape = (model.inputs[0].shape as (number | null)[]).slice(1);
  if (modelShape.join('x') !== data.inputShape.join('x')) {
    throw new ModelError(`${path}: the model takes inputs of ${formatShape(modelShape)} but ${data.name} images are ${data.inputShape.join('x')}`);
  }
  const classes = model.outputs[0].shape[1];
  if (classes !== data.numClasses) throw new ModelError(`${path}: the model scores ${classes} classes but ${data.name} has ${data.numClasses}`);
}

/**
 * The split seed and pixel scaling a baseline was trained with, from the train
 * run record beside its model (runs/<id>/run.json or a shipped model's run.json).
 */
function trainingConfig(modelPath: string): { seed?: number; scaling?: PixelScaling } | undefined {
  for (const record of [join(dirname(modelPath), 'run.json'), join(dirname(dirname(modelPath)), 'run.json')]) {
    if (!existsSync(record)) continue;
    try {
      const parsed = JSON.parse(readFileSync(record, 'utf8')) as { command?: string; config?: { seed?: unknown; scaling?: unknown } };
      if (parsed.command !== 'train') continue;
      const scaling = PIXEL_SCALING.safeParse(parsed.config?.scaling);
      return { seed: typeof parsed.config?.seed === 'number' ? parsed.config.seed : undefined, scaling: scaling.success ? scaling.data : undefined };
    } catch {
      return undefined; // an unreadable record names nothing
    }
  }
  return undefined;
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

export function describeEvent(event: HeuristicEvent, log: ProgressLog): void {
  switch (event.type) {
    case 'step-start':
      log.line(`step ${event.step}/${event.steps}: pruning ${(100 * event.ratio).toFixed(1)}% of the prunable channels, then fine-tuning`);
      break;
    case 'finetune-progress': {
      const p = event.progress;
      log.status(`  fine-tune epoch ${p.epoch}/${p.epochs} batch ${p.batch}/${p.batches} loss ${p.loss.toFixed(4)} ${p.imagesPerSecond.toFixed(0)} img/s`);
      break;
    }
    case 'step-done':
      log.line(`step ${event.record.step}: kept ${Object.values(event.record.kept).join('/')} channels per group, validation ${pct(event.record.validationAccuracy)} (${event.record.seconds.toFixed(1)} s)`);
      break;
    case 'probe-done': {
      const p = event.probe;
      log.line(`probe ${p.probe}: ratio ${(100 * p.ratio).toFixed(1)}% -> validation ${pct(p.validationAccuracy)}, drop ${p.drop.toFixed(2)} points: ${p.withinTolerance ? 'within' : 'beyond'} tolerance`);
      break;
    }
  }
}

export async function baselineCommand(options: BaselineOptions, backend: BackendChoice, log: ProgressLog): Promise<Run> {
  const { data, model, source } = await trainedModelAndData(options, backend, log);
  checkPrunable(model, source);
  checkCriterion(model, options.heuristic, data);
  const target = options.search ? `tolerance ${options.search.tolerance} points, bisection to ${describeResolution(prunableSizes(model))} (at most ${options.search.maxProbes} probes)` : `ratio ${options.ratio}`;
  const config = { ...options, baseline: source, dataSource: data.source };
  const run = await Run.create(options.runsDir, { command: 'baseline', label: `${options.heuristic.criterion}-${modelShortName(options.model, data.name)}-${data.name}`, config, backend: backend.name });
  log.line(`run: ${run.dir}`);
  log.line(`criterion ${options.heuristic.criterion}, ${options.heuristic.ranking} ranking, ${options.heuristic.schedule} schedule, ${target}`);
  const steps: unknown[] = [];
  const probes: unknown[] = [];
  const emit = (event: HeuristicEvent) => {
    describeEvent(event, log);
    if (event.type === 'step-done') steps.push(event.record);
    if (event.type === 'probe-done') probes.push({ ...event.probe, steps: undefined });
    if (event.type === 'step-done' || event.type === 'probe-done') void run.update((r) => (r.result = { ...r.result, steps, probes }));
  };
  try {
    return await guardRun(run, async () => {
      const outcome = options.search
        ? await pruneToTolerance(model, data, options.heuristic, options.search, emit)
        : { ...(await pruneToRatio(model, data, options.heuristic, options.ratio!, emit)), ratio: options.ratio! };
      const weightsDtype = options.weightsDtype ?? weightsDtypeOf(source);
      const report = await pruneReport(model, outcome.model, data, { originalPath: source, weightsDtype });
      const modelPath = await saveModel(outcome.model, join(run.dir, 'model'), weightsDtype);
      await run.update((r) => {
        r.result = { ...r.result, ratio: outcome.ratio, finalSteps: outcome.steps, report, modelPath };
      });
      await run.finish('done');
      log.line(`pruned ${(100 * outcome.ratio).toFixed(1)}% of the prunable channels`);
      for (const line of formatReport(report)) log.line(line);
      log.line(`saved ${modelPath}`);
      outcome.model.dispose();
      return run;
    });
  } finally {
    model.dispose();
  }
}
