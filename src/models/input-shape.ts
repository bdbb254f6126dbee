/**
 * Models whose input has unknown dimensions (a fully convolutional model
 * takes [?, ?, ?, 3]) have no per-image cost and no static shapes to prune
 * by. autoprune rebuilds such a model at the image size of the data (or of
 * `inspect --input-size`): same layers, same weights, fixed input.
 */
import * as tf from '@tensorflow/tfjs';
import { ModelError } from '../errors.js';

/** The input shape without the batch dimension; null where unknown. */
export function inputShapeOf(model: tf.LayersModel): (number | null)[] {
  return (model.inputs[0].shape as (number | null)[]).slice(1);
}

/** "28x28x1", with ? for an unknown dimension. */
export function formatShape(shape: (number | null)[]): string {
  return shape.map((d) => d ?? '?').join('x');
}

export function hasUnknownInputSize(model: tf.LayersModel): boolean {
  return inputShapeOf(model).some((d) => d === null);
}

/**
 * A copy of `model` whose input is `shape` (height, width, channels), its
 * weights copied. Known dimensions must match; `source` names the model in errors.
 */
export async function withInputShape(model: tf.LayersModel, shape: [number, number, number], source: string): Promise<tf.LayersModel> {
  const current = inputShapeOf(model);
  if (current.length !== 3)
    throw new ModelError(`${source}: the model's input is ${formatShape(current)}; autoprune prunes models of images (height x width x channels)`);
  current.forEach((d, i) => {
    if (d !== null && d !== shape[i])
      throw new ModelError(`${source}: the model takes inputs of ${formatShape(current)}, which cannot be ${formatShape(shape)}`);
  });
  const topology = model.toJSON(null, false) as { config: { layers: { class_name: string; config: Record<string, unknown> }[] } };
  let replaced = 0;
  for (const layer of topology.config.layers) {
    const declared = layer.config.batch_input_shape as (number | null)[] | undefined;
    if (declared !== undefined && declared.length === 4) {
      layer.config.batch_input_shape = [declared[0], ...shape];
      replaced++;
    }
  }
  if (replaced !== 1) throw new ModelError(`${source}: cannot set the input size of this model (found ${replaced} declared inputs)`);
  const fixed = await tf.models.modelFromJSON({ modelTopology: topology as unknown as tf.io.ModelJSON['modelTopology'] });
  fixed.setWeights(model.getWeights());
  return fixed;
}
