/**
 * The library's entry points check the arguments a caller passes (the
 * options are checked by their zod schemas), so a wrong one is a typed
 * error that names it, not a TypeError from deep inside TF.js.
 */
import type * as tf from '@tensorflow/tfjs';
import type { Dataset, Split } from './data/datasets.js';
import { DataError, ModelError } from './errors.js';

/** `null`, `a number (42)`, `an object with keys a, b`: what the caller passed, in a few words. */
export function describeArgument(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') {
    const keys = Object.keys(value);
    return keys.length === 0 ? 'an empty object' : `an object with keys ${keys.slice(0, 5).join(', ')}${keys.length > 5 ? ', ...' : ''}`;
  }
  return `a ${typeof value} (${String(value).slice(0, 40)})`;
}

/** Throws a ModelError unless `model` is a TF.js layers model. */
export function checkModelArgument(model: unknown, where: string): asserts model is tf.LayersModel {
  const m = model as Partial<tf.LayersModel> | null | undefined;
  // By its shape, not instanceof: the caller's tfjs may be another copy of the module.
  if (typeof m !== 'object' || m === null || typeof m.predict !== 'function' || !Array.isArray(m.layers) || typeof m.getWeights !== 'function')
    throw new ModelError(`${where}: expected a TF.js layers model (tf.LayersModel), got ${describeArgument(model)}`);
}

function checkSplit(split: unknown, name: string, where: string): asserts split is Split {
  const s = split as Partial<Split> | null | undefined;
  if (
    typeof s !== 'object' ||
    s === null ||
    !(s.images instanceof Float32Array || s.images instanceof Uint8Array) ||
    !(s.labels instanceof Uint8Array) ||
    !Number.isInteger(s.count)
  ) {
    throw new DataError(
      `${where}: data.${name} must be a split { images: Float32Array (or pixel bytes: Uint8Array), labels: Uint8Array, count }, got ${describeArgument(split)}`,
    );
  }
}

/** Throws a DataError unless `data` has the shape of a Dataset (loadDataset, loadData, loadImageFolder). */
export function checkDataArgument(data: unknown, where: string): asserts data is Dataset {
  const d = data as Partial<Dataset> | null | undefined;
  if (typeof d !== 'object' || d === null) throw new DataError(`${where}: expected a data set (as loadDataset returns), got ${describeArgument(data)}`);
  if (!Array.isArray(d.inputShape) || d.inputShape.length !== 3 || !d.inputShape.every((n) => Number.isInteger(n) && n > 0)) {
    throw new DataError(`${where}: data.inputShape must be [height, width, channels], got ${describeArgument(d.inputShape)}`);
  }
  if (!Number.isInteger(d.numClasses) || (d.numClasses as number) < 2)
    throw new DataError(`${where}: data.numClasses must be an integer of at least 2, got ${describeArgument(d.numClasses)}`);
  for (const name of ['train', 'validation', 'test'] as const) checkSplit(d[name], name, where);
}
