/** What the hostile tests share: a tiny saved classifier whose model.json they rewrite, and the temporary files a cut-short write could leave. */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { loadModel, saveModel } from '../../src/models/io.js';
import { tempDir } from '../helpers.js';

export function tinyModel(): tf.LayersModel {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [6, 6, 1], filters: 3, kernelSize: 3, name: 'conv' }),
      tf.layers.flatten({ name: 'flat' }),
      tf.layers.dense({ units: 2, name: 'out' }),
    ],
  });
}

/** A model.json as these tests edit it. */
export type ModelJsonEdit = { weightsManifest: { paths: unknown; weights: Record<string, unknown>[] }[]; [field: string]: unknown };

/** A saved tiny model, and a function that rewrites its model.json with `edit`. */
export async function savedModel(): Promise<{ dir: string; path: string; rewrite: (edit: (json: ModelJsonEdit) => unknown) => void }> {
  const dir = tempDir();
  const model = tinyModel();
  const path = await saveModel(model, dir);
  model.dispose();
  const good = readFileSync(path, 'utf8');
  return { dir, path, rewrite: (edit) => writeFileSync(path, JSON.stringify(edit(JSON.parse(good)))) };
}

export async function loadError(path: string): Promise<Error> {
  const err = await loadModel(path).then(
    () => undefined,
    (e: Error) => e,
  );
  if (err === undefined) throw new Error(`${path} loaded`);
  return err;
}

/** What a write cut short could leave: an atomic write's temporary file, a record's, a resume lock. */
export function temporaryFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((name) => /(\.tmp(-\d+)?|\.exit-\d+|\.takeover\.lock)$/.test(name));
}
