/** Trains a zoo model on a data set in a run folder (`autoprune train`, and a baseline a pruning command needs first). */
import { join } from 'node:path';
import type { BackendChoice } from '../backend/backend.js';
import type { Dataset, PixelScaling } from '../data/datasets.js';
import { type DataSource, loadData, withAbsolutePaths } from '../data/load.js';
import { saveModel } from '../models/io.js';
import { buildZooModel } from '../models/zoo.js';
import { guardRun, Run, type StopSignals } from './records.js';
import { InterruptedError } from '../errors.js';
import { type EpochRecord, evaluateAccuracy, stopRequested, trainModel, type TrainConfig } from '../train/train.js';
import { decodeProgress, type RunLog } from './log.js';
import { percent } from '../text.js';
import { checkTrainingBatch } from '../train/heap-fit.js';

export interface TrainOptions extends TrainConfig, DataSource {
  model: string;
  /** How pixels are scaled for the model (default 0..1). */
  scaling?: PixelScaling;
  /** Height and width a folder of images is decoded to (default: the first image's). */
  imageSize?: [number, number];
  /** Channels a folder of images is decoded to, 1 or 3 (default: 1 if the first image is gray). */
  channels?: number;
  validationSize?: number;
  trainLimit?: number;
  runsDir: string;
  /** Rejects data the caller cannot use (throws), once it is loaded and before the run folder exists. */
  checkData?: (data: Dataset) => void;
}

/** What a train run records (run.json's result) once its model is trained and saved. */
export interface TrainResult {
  parameters?: number;
  /** Fractions, as every accuracy in autoprune. */
  validationAccuracy?: number;
  testAccuracy?: number;
  bestEpoch?: number;
  epochs?: EpochRecord[];
  trainSeconds?: number;
  modelPath?: string;
  classNames?: string[];
}

export async function trainRun(requested: TrainOptions, backend: BackendChoice, log: RunLog, stops: StopSignals = {}): Promise<Run<TrainResult>> {
  const options = withAbsolutePaths(requested);
  // Everything that can be rejected is checked before the run folder exists.
  const data = await loadData(options, {
    validationSize: options.validationSize,
    seed: options.seed,
    trainLimit: options.trainLimit,
    scaling: options.scaling,
    imageSize: options.imageSize,
    channels: options.channels,
    ...decodeProgress(log),
  });
  options.checkData?.(data);
  const model = buildZooModel(options.model, { inputShape: data.inputShape, numClasses: data.numClasses, seed: options.seed });
  log.line(`data: ${describeData(data)}`);
  log.line(`model: ${options.model}, ${model.countParams()} parameters`);
  checkTrainingBatch(model, options.batchSize, 'batchSize (--batch-size)');

  const { checkData: _, ...recorded } = options;
  // The validation size the split has (the default's too), so that pruning can refuse a larger one: its extra images were trained on.
  const config = { ...recorded, validationSize: data.validation.count, dataSource: data.source, inputShape: data.inputShape };
  if (stops.signal?.aborted) throw new InterruptedError('stopped before the run started');
  const run = await Run.create<TrainResult>(options.runsDir, {
    command: 'train',
    label: `${options.model}-${data.name}`,
    config,
    backend: backend.name,
    result: {},
  });
  try {
    return await guardRun(run, stops, async () => {
      log.line(`run: ${run.dir}`);
      const result = await trainModel(model, data, options, {
        shouldStop: stopRequested(stops.signal),
        onBatch: (p) =>
          log.status(`epoch ${p.epoch}/${p.epochs}  batch ${p.batch}/${p.batches}  loss ${p.loss.toFixed(4)}  ${p.imagesPerSecond.toFixed(0)} img/s`),
        onEpoch: (e) =>
          log.line(
            `epoch ${e.epoch}: loss ${e.loss.toFixed(4)}, validation accuracy ${percent(e.validationAccuracy)}, ${e.seconds.toFixed(1)} s (${e.imagesPerSecond.toFixed(0)} img/s)`,
          ),
      });
      const testAccuracy = await evaluateAccuracy(model, data.test, data.inputShape);
      const modelPath = await saveModel(model, join(run.dir, 'model'));
      await run.update((r) => {
        r.result = {
          parameters: model.countParams(),
          validationAccuracy: result.validationAccuracy,
          testAccuracy,
          bestEpoch: result.bestEpoch,
          epochs: result.epochs,
          trainSeconds: result.seconds,
          modelPath,
          ...(data.classNames && { classNames: data.classNames }),
        };
      });
      await run.finish('done');
      log.line(`validation accuracy ${percent(result.validationAccuracy)} (best epoch ${result.bestEpoch}), test accuracy ${percent(testAccuracy)}`);
      log.line(`saved ${modelPath}`);
      return run;
    });
  } finally {
    model.dispose();
  }
}

/** One line: where the data came from, its shape, classes and splits. */
export function describeData(data: Dataset): string {
  const classes = data.classNames === undefined ? `${data.numClasses} classes` : `${data.numClasses} classes (${shortList(data.classNames)})`;
  return `${data.name} from ${data.source}: ${data.inputShape.join('x')} images, ${classes}, ${data.train.count} train / ${data.validation.count} validation / ${data.test.count} test`;
}

function shortList(names: string[]): string {
  return names.length <= 8 ? names.join(', ') : `${names.slice(0, 7).join(', ')}, ... ${names.at(-1)}`;
}
