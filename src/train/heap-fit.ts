/**
 * Batches that fit the wasm heap. The wasm backend keeps every tensor in one
 * 32-bit heap of at most 4 GiB, and a batch whose tensors do not fit aborts
 * the process (`Aborted()`, nothing said): MobileNetV2 at 224 px trains at
 * about 270 MB of heap per image, so the default batch of 64 cannot run. The
 * batches are sized from the model's activations instead: an inference batch
 * is cut to what fits (an image's outputs do not depend on its batch), and a
 * training batch too large is refused in one line that names the field and
 * the largest batch that fits. Other backends have no such cap.
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../errors.js';
import { formatBytes } from '../text.js';

/** What one step may use: the heap's 4 GiB less room for its own bookkeeping and fragmentation. */
const USABLE_BYTES = 0.85 * 4 * 2 ** 30;
/**
 * Heap bytes per image, as a multiple of the model's activations, measured on
 * MobileNetV2 1.0 at 224 px (2.27M parameters, 83 MB of layer outputs per
 * image, 4.7 MB in its largest): a training step grew the heap by 217-270 MB
 * per image from batch 1 to 4 (3.25x the outputs), inference by 9.2 MB per
 * image from batch 8 to 32 (2x the largest output). Rounded up for room.
 */
const TRAINING_PER_OUTPUTS = 3.5;
const INFERENCE_PER_LARGEST = 2.5;
/** Weights, their gradients and Adam's two moments: four float32 copies. */
const TRAINING_COPIES = 4;

/** Float32 values of every layer's output per image, in all and in the largest. */
function activationValues(model: tf.LayersModel): { total: number; largest: number } {
  let total = 0;
  let largest = 0;
  for (const layer of model.layers) {
    const shapes = (Array.isArray(layer.outputShape[0]) ? layer.outputShape : [layer.outputShape]) as (number | null)[][];
    for (const shape of shapes) {
      const values = shape.slice(1).reduce<number>((product, d) => product * (d ?? 1), 1);
      total += values;
      largest = Math.max(largest, values);
    }
  }
  return { total, largest };
}

const onWasm = () => tf.getBackend() === 'wasm';

const trainingBytesPerImage = (model: tf.LayersModel) => 4 * TRAINING_PER_OUTPUTS * activationValues(model).total;

/** The largest training batch of `model` that fits the wasm heap (Infinity on other backends). */
export function largestTrainingBatch(model: tf.LayersModel): number {
  if (!onWasm()) return Number.POSITIVE_INFINITY;
  return Math.max(1, Math.floor((USABLE_BYTES - 4 * TRAINING_COPIES * model.countParams()) / trainingBytesPerImage(model)));
}

/** `wanted` images per inference batch, or fewer where the wasm heap would not hold them. */
export function inferenceBatch(model: tf.LayersModel, wanted: number): number {
  if (!onWasm()) return wanted;
  const perImage = 4 * INFERENCE_PER_LARGEST * activationValues(model).largest;
  return Math.max(1, Math.min(wanted, Math.floor((USABLE_BYTES - 4 * model.countParams()) / perImage)));
}

/** Refuses, in one line naming `field`, a training batch the wasm heap would not hold (the process would abort mid-run). */
export function checkTrainingBatch(model: tf.LayersModel, batchSize: number, field: string): void {
  const largest = largestTrainingBatch(model);
  if (batchSize <= largest) return;
  const [, ...input] = model.inputs[0].shape;
  throw new ConfigError(
    `${field}: a training batch of ${batchSize} at ${input.join('x')} needs about ${formatBytes(batchSize * trainingBytesPerImage(model))} of the wasm backend's heap, which holds 4 GiB; give ${field} at most ${largest}`,
  );
}

/** Refuses the fine-tunes' batches (the searches' and the final one) that the wasm heap would not hold, naming the config field. */
export function checkFinetuneBatches(model: tf.LayersModel, config: { finetune: { batchSize: number }; finalFinetune?: { batchSize: number } }): void {
  checkTrainingBatch(model, config.finetune.batchSize, 'finetune.batchSize');
  if (config.finalFinetune !== undefined) checkTrainingBatch(model, config.finalFinetune.batchSize, 'finalFinetune.batchSize');
}
