/**
 * Loading and saving TF.js layers models (model.json + binary weight files)
 * on the local file system, with errors that name the file at fault.
 *
 * Plain @tensorflow/tfjs has no file:// handler (that lives in tfjs-node), so
 * this reads and writes the documented layers-model format itself.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import './tfjs-fixes.js';
import { flattenModel, isNested } from './flatten.js';
import { readModelJson, weightFiles } from './model-json.js';
import { quantizeWeights, storedWeightsDtype, type WeightsDtype } from './quantize.js';
import { checkModelArgument, describeArgument } from '../arguments.js';
import { ModelError } from '../errors.js';
import { timed } from '../phases.js';

const BYTES_PER_ELEMENT: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

/** Writes via a temporary file and a rename, so a crash never leaves half a file. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true }); // a full disk leaves no half-written temporary file behind
    (err as NodeJS.ErrnoException).path ??= path; // a failed write(2) names no file: name the one it was for
    throw err;
  }
}

function specBytes(spec: tf.io.WeightsManifestEntry): number {
  const elements = spec.shape.reduce((a, b) => a * b, 1);
  const dtype = spec.quantization?.dtype ?? spec.dtype;
  const width = BYTES_PER_ELEMENT[dtype];
  if (width === undefined) throw new ModelError(`weight ${spec.name}: unsupported dtype ${dtype}`);
  return elements * width;
}

/**
 * Saves `model` as `dir/model.json` + `dir/weights.bin`, its float32 weights
 * stored as `weightsDtype` (quantized: see quantize.ts); returns the model.json path.
 */
export const saveModel = (model: tf.LayersModel, dir: string, weightsDtype: WeightsDtype = 'float32'): Promise<string> =>
  timed('io', () => saveModelFiles(model, dir, weightsDtype));

async function saveModelFiles(model: tf.LayersModel, dir: string, weightsDtype: WeightsDtype): Promise<string> {
  checkModelArgument(model, 'saveModel');
  if (typeof dir !== 'string' || dir === '') throw new ModelError(`saveModel: expected a folder path, got ${describeArgument(dir)}`);
  mkdirSync(dir, { recursive: true });
  const modelPath = join(dir, 'model.json');
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const raw = artifacts.weightData === undefined ? new Uint8Array(0) : new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData));
      const { specs, data: weightData } = quantizeWeights(artifacts.weightSpecs ?? [], raw, weightsDtype);
      writeFileAtomic(join(dir, 'weights.bin'), weightData);
      const json = {
        format: 'layers-model',
        generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`,
        convertedBy: null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ['weights.bin'], weights: specs }],
      };
      writeFileAtomic(modelPath, JSON.stringify(json));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: weightData.byteLength } };
    }),
  );
  return modelPath;
}

/** How the model at `path` (a model.json) stores its float32 weights: float32, or the quantization most of them use. */
export function weightsDtypeOf(path: string): WeightsDtype {
  return storedWeightsDtype(readModelJson(path).weightsManifest.flatMap((group) => group.weights));
}

/** Bytes of a saved model: its model.json and every weight file it lists. */
export function modelFilesBytes(path: string): number {
  const files = weightFiles(path, readModelJson(path)).flat();
  return [path, ...files].reduce((sum, file) => sum + statSync(file).size, 0);
}

/** SHA-256 of a saved model: its model.json and every weight file it lists, in order (the same model saved anywhere has the same digest). */
export function modelDigest(path: string): string {
  const hash = createHash('sha256');
  for (const file of [path, ...weightFiles(path, readModelJson(path)).flat()]) hash.update(readFileSync(file));
  return hash.digest('hex');
}

/** Reads model.json and its weight files, checking every size before TF.js sees them. */
export const loadModel = (path: string): Promise<tf.LayersModel> => timed('io', () => loadModelFiles(path));

async function loadModelFiles(path: string): Promise<tf.LayersModel> {
  if (typeof path !== 'string' || path === '')
    throw new ModelError(`loadModel: expected the path of a model.json or of its folder, got ${describeArgument(path)}`);
  // A file:// URL (as tfjs's own loaders take) names the same file.
  const local = path.startsWith('file://') ? fileURLToPath(path) : path;
  const modelPath = resolve(local.endsWith('.json') ? local : join(local, 'model.json'));
  if (!existsSync(modelPath)) throw new ModelError(`${modelPath}: model file not found`);
  // A FIFO or a device would block the read, or never end.
  if (!statSync(modelPath).isFile()) throw new ModelError(`${modelPath}: not a regular file`);
  const json = readModelJson(modelPath);
  const filesOfGroups = weightFiles(modelPath, json);
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Uint8Array[] = [];
  for (const [i, group] of json.weightsManifest.entries()) {
    const files = filesOfGroups[i];
    const expected = group.weights.reduce((sum, spec) => sum + specBytes(spec), 0);
    let actual = 0;
    for (const file of files) {
      if (!existsSync(file)) throw new ModelError(`${file}: weight file listed in ${modelPath} is missing`);
      actual += statSync(file).size;
    }
    if (actual !== expected) {
      throw new ModelError(
        `${files.join(', ')}: weight data is ${actual} bytes but ${modelPath} declares ${expected} bytes for ${group.weights.map((w) => w.name).join(', ')}`,
      );
    }
    weightSpecs.push(...group.weights);
    buffers.push(...files.map((f) => readFileSync(f)));
  }
  const weightData = tf.io.CompositeArrayBuffer.join(buffers.map((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer));
  let model: tf.LayersModel;
  try {
    model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs, weightData }));
  } catch (err) {
    throw new ModelError(`${modelPath}: TF.js could not build the model (${(err as Error).message})`);
  }
  if (!isNested(model)) return model;
  // A model nesting models (transfer learning, Teachable Machine) is read as one flat model with the same weights.
  try {
    return await flattenModel(model, modelPath);
  } finally {
    model.dispose();
  }
}

/** An independent copy of a model: same topology, copied weights. */
export async function cloneModel(model: tf.LayersModel): Promise<tf.LayersModel> {
  const copy = await tf.models.modelFromJSON({ modelTopology: model.toJSON(null, false) as tf.io.ModelJSON['modelTopology'] });
  copy.setWeights(model.getWeights()); // assign shares the data and counts the reference
  return copy;
}
