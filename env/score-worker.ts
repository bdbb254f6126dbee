/**
 * A candidate-scoring worker (ScoringPool): keeps the environment of the
 * last state it was given and scores masks with it.
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend, wasmHeapBytes } from '../src/backend/backend.js';
import { PruningEnv, type ScoringState } from './pruning-env.js';
import type { ScoreTask } from './scoring-pool.js';

let backend: Promise<unknown> | undefined;
let held: { version: string; env: PruningEnv } | undefined;

async function environmentOf(state: ScoringState): Promise<PruningEnv> {
  const model = await tf.models.modelFromJSON({ modelTopology: state.topology as tf.io.ModelJSON['modelTopology'] });
  // Copies out of the shared buffers: the tensors own their data.
  const weights = state.weights.map((w) => tf.tensor(w.values.slice(), w.shape, w.dtype));
  model.setWeights(weights);
  tf.dispose(weights);
  const env = PruningEnv.forScoring(model, state.config, state.reward);
  env.setGroup(state.groupId);
  return env;
}

export default async function score({ state, mask, images }: ScoreTask): Promise<number> {
  backend ??= selectBackend(state.backend, { threads: 1 });
  await backend;
  if (held?.version !== state.version) {
    held?.env.model.dispose();
    held?.env.dispose();
    held = undefined; // nothing held if the new one fails to build
    held = { version: state.version, env: await environmentOf(state) };
  }
  return held.env.evaluate(mask, images);
}

export function memory(): { tensors: number; wasmHeapBytes: number } {
  return { tensors: tf.memory().numTensors, wasmHeapBytes: wasmHeapBytes() };
}
