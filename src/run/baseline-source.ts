/**
 * The trained model a pruning run starts from and the data it is checked on:
 * found (or trained first), loaded, checked against each other, the data
 * split the way the baseline was trained.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import type { BackendChoice } from '../backend/backend.js';
import type { Dataset, PixelScaling } from '../data/datasets.js';
import { type DataSource, dataKey, loadData } from '../data/load.js';
import { formatShape, hasUnknownInputSize, inputShapeOf, withInputShape } from '../models/input-shape.js';
import { baselineLabel, findBaseline, loadBaseline } from './baselines.js';
import { DEFAULT_BATCHNORM_IMAGES, DEFAULT_TRAIN_CONFIG } from '../train/train.js';
import { PIXEL_SCALING } from './config.js';
import { plural } from '../text.js';
import { decodeProgress, type RunLog } from './log.js';
import { trainRun } from './train-run.js';
import { ConfigError, ModelError } from '../errors.js';

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
  /** Rejects data the caller cannot use (throws), once it is loaded: before a baseline is trained for it. */
  checkData?: (data: Dataset) => void;
}

/**
 * Loads the data and the trained model to prune, training one first when a
 * zoo name has none yet. The validation images are carved from the training
 * files with the baseline's own split seed, so that a pruning run at another
 * seed never checks its tolerance on images the baseline was trained on.
 */
export async function trainedModelAndData(
  options: ModelSourceOptions,
  backend: BackendChoice,
  log: RunLog,
): Promise<{ data: Dataset; model: tf.LayersModel; source: string; splitSeed: number; scaling: PixelScaling; validationSize?: number }> {
  let source = findBaseline(options.model, dataKey(options), options.runsDir);
  if (source.kind === 'none') {
    log.line(`no trained ${options.model} for ${dataKey(options)} in ${options.runsDir}/: training one first (${options.trainEpochs} epochs)`);
    const { model, dataset, data, dataDir, scaling, validationSize, runsDir } = options;
    const run = await trainRun(
      {
        ...DEFAULT_TRAIN_CONFIG,
        batchNormImages: DEFAULT_BATCHNORM_IMAGES,
        model,
        dataset,
        data,
        dataDir,
        scaling,
        validationSize,
        seed: options.splitSeed ?? options.seed,
        epochs: options.trainEpochs,
        runsDir,
        checkData: options.checkData,
      },
      backend,
      log,
    );
    source = { kind: 'run', path: join(run.dir, 'model', 'model.json'), runId: run.id };
  }
  let model = await loadBaseline(source);
  try {
    checkClassifier(model, source.path);
    const trained = trainingConfig(source.path);
    const splitSeed = options.splitSeed ?? trained?.seed ?? 0;
    const scaling = options.scaling ?? trained?.scaling ?? '0..1';
    // A larger validation split than the baseline's would hold images the baseline was trained on.
    const trainedValidation = options.splitSeed === undefined ? trained?.validationSize : undefined;
    if (options.validationSize !== undefined && trainedValidation !== undefined && options.validationSize > trainedValidation) {
      throw new ConfigError(
        `validationSize: ${options.validationSize} is more than the baseline's validation split (${trainedValidation} images, from its train record); the others were its training images`,
      );
    }
    const validationSize = options.validationSize ?? trainedValidation;
    const data = await loadModelData(options, model, { validationSize, seed: splitSeed, scaling }, log);
    log.line(`validation split: seed ${splitSeed}${options.splitSeed === undefined ? " (the baseline's)" : ''}, ${data.validation.count} images`);
    if (options.scaling === undefined && trained?.scaling !== undefined) log.line(`pixel scaling: ${JSON.stringify(scaling)} (the baseline's)`);
    model = await atDataSize(model, data, source.path, log);
    checkModelFitsData(model, data, source.path);
    options.checkData?.(data);
    log.line(`baseline: ${baselineLabel(options.model, source.path)}`); // the name the user gave, not a path of this machine
    return { data, model, source: source.path, splitSeed, scaling, validationSize };
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
export async function loadModelData(
  source: DataSource,
  model: tf.LayersModel,
  options: { validationSize?: number; seed: number; scaling?: PixelScaling },
  log: RunLog,
): Promise<Dataset> {
  const shape = inputShapeOf(model);
  const fixed = shape.length === 3 && shape.every((d) => d !== null) ? (shape as [number, number, number]) : undefined;
  return loadData(source, { ...options, inputShape: fixed, channels: shape[2] ?? undefined, ...decodeProgress(log) });
}

/** `model` itself, or (when its input size is unknown) a copy at the data's image size; a replaced model is disposed. */
export async function atDataSize(model: tf.LayersModel, data: Dataset, source: string, log: RunLog): Promise<tf.LayersModel> {
  if (!hasUnknownInputSize(model)) return model;
  const fixed = await withInputShape(model, data.inputShape, source);
  log.line(`the model's input is ${formatShape(inputShapeOf(model))}: pruned and measured at the data's ${formatShape(data.inputShape)}`);
  model.dispose();
  return fixed;
}

/** A classifier: one image input, one output of [batch, classes]. */
function checkClassifier(model: tf.LayersModel, path: string): void {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new ModelError(
      `${path}: the model has ${plural(model.inputs.length, 'input')} and ${plural(model.outputs.length, 'output')}; autoprune prunes classifiers with one image input and one output of class scores`,
    );
  }
  const outputShape = model.outputs[0].shape;
  if (outputShape.length !== 2) {
    throw new ModelError(
      `${path}: the model's output has shape [${outputShape.map((d) => d ?? 'batch').join(', ')}]; autoprune prunes classifiers, whose output is [batch, classes]`,
    );
  }
}

function checkModelFitsData(model: tf.LayersModel, data: Dataset, path: string): void {
  const modelShape = inputShapeOf(model);
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
function trainingConfig(modelPath: string): { seed?: number; scaling?: PixelScaling; validationSize?: number } | undefined {
  for (const record of [join(dirname(modelPath), 'run.json'), join(dirname(dirname(modelPath)), 'run.json')]) {
    if (!existsSync(record)) continue;
    try {
      const parsed = JSON.parse(readFileSync(record, 'utf8')) as { command?: string; config?: { seed?: unknown; scaling?: unknown; validationSize?: unknown } };
      if (parsed.command !== 'train') continue;
      const scaling = PIXEL_SCALING.safeParse(parsed.config?.scaling);
      const number = (x: unknown) => (typeof x === 'number' ? x : undefined);
      return { seed: number(parsed.config?.seed), scaling: scaling.success ? scaling.data : undefined, validationSize: number(parsed.config?.validationSize) };
    } catch {
      return undefined; // an unreadable record names nothing
    }
  }
  return undefined;
}
