/** `--model`: a zoo name builds a fresh model; anything else is a path to a model.json. */
import type * as tf from '@tensorflow/tfjs';
import { loadModel } from './io.js';
import { buildZooModel, isZooName, type ZooOptions } from './zoo.js';

export async function resolveModel(spec: string, zoo: ZooOptions): Promise<tf.LayersModel> {
  return isZooName(spec) ? buildZooModel(spec, zoo) : loadModel(spec);
}
