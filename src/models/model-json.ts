/**
 * The layers-model `model.json` as a schema, checked before TF.js sees it,
 * and the weight files it names, confined to the model's folder: a model
 * downloaded from anywhere must not make autoprune read a file outside it.
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { ModelError } from '../errors.js';

/** No real CNN weight has more elements; a larger product is a corrupt or hostile file. */
const MAX_WEIGHT_ELEMENTS = 2 ** 31;

const weightEntry = z
  .object({
    name: z.string().min(1),
    shape: z.array(z.number().int().nonnegative()),
    dtype: z.enum(['float32', 'int32', 'bool']),
    quantization: z
      .object({
        dtype: z.enum(['uint8', 'uint16', 'float16']),
        scale: z.number().finite().optional(),
        min: z.number().finite().optional(),
        original_dtype: z.string().optional(),
      })
      .optional(),
  })
  .superRefine((entry, ctx) => {
    const elements = entry.shape.reduce((a, b) => a * b, 1);
    if (elements > MAX_WEIGHT_ELEMENTS) ctx.addIssue({ code: 'custom', path: ['shape'], message: `${elements} elements is more than any weight can hold` });
  });

const modelJsonSchema = z.object({
  format: z.string().optional(),
  modelTopology: z.record(z.string(), z.unknown()),
  weightsManifest: z.array(z.object({ paths: z.array(z.string().min(1)), weights: z.array(weightEntry) })),
});

export type ModelJson = z.infer<typeof modelJsonSchema> & { weightsManifest: { weights: tf.io.WeightsManifestEntry[] }[] };

/** `weightsManifest[0].paths`, as a reader of the file would write the field. */
function fieldPath(path: PropertyKey[]): string {
  return path.map((key, i) => (typeof key === 'number' ? `[${key}]` : `${i === 0 ? '' : '.'}${String(key)}`)).join('') || 'the file';
}

/** Reads and checks `modelPath`; every violation is a ModelError naming the file and the field. */
export function readModelJson(modelPath: string): ModelJson {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(modelPath, 'utf8'));
  } catch (err) {
    throw new ModelError(`${modelPath}: not valid JSON (${(err as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ModelError(`${modelPath}: not a TF.js layers model (expected an object with "modelTopology" and "weightsManifest" fields)`);
  }
  if ((json as { format?: unknown }).format === 'graph-model') {
    throw new ModelError(`${modelPath}: is a TF.js graph model; only layers models (format "layers-model", e.g. saved by model.save) can be pruned`);
  }
  const parsed = modelJsonSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ModelError(`${modelPath}: ${fieldPath(issue.path)}: ${issue.message}`);
  }
  return parsed.data as ModelJson;
}

/**
 * The weight files of `json`, resolved in the folder of `modelPath`. A path
 * that is absolute, climbs out with `..`, or reaches outside through a
 * symbolic link is refused, naming the manifest field.
 */
export function weightFiles(modelPath: string, json: ModelJson): string[][] {
  const folder = dirname(modelPath);
  const realFolder = realpathSync(folder);
  return json.weightsManifest.map((group, i) =>
    group.paths.map((path, j) => {
      const field = `${modelPath}: weightsManifest[${i}].paths[${j}] "${path}"`;
      if (isAbsolute(path) || /^[a-zA-Z]:[\\/]/.test(path)) throw new ModelError(`${field}: must be a path relative to the model's folder`);
      const file = resolve(folder, path);
      if (leaves(folder, file)) throw new ModelError(`${field}: leaves the model's folder ${folder}`);
      const target = existsSync(file) ? realpathSync(file) : undefined;
      if (target !== undefined && leaves(realFolder, target)) throw new ModelError(`${field}: is a link to ${target}, outside the model's folder ${folder}`);
      return file;
    }),
  );
}

function leaves(folder: string, file: string): boolean {
  const rel = relative(folder, file);
  return rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel);
}
