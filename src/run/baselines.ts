/**
 * Finds the trained model a pruning command starts from: a model.json path,
 * a run id, or a zoo name (the newest finished `train` run of that model on
 * that data set, else a baseline shipped in the repository).
 */
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as tf from '@tensorflow/tfjs';
import { loadModel } from '../models/io.js';
import { isZooName } from '../models/zoo.js';
import { dataKey } from '../data/load.js';
import { isRunId, listRuns } from './records.js';

export type BaselineSource = { kind: 'file' | 'run' | 'shipped'; path: string; runId?: string } | { kind: 'none'; zooName: string };

/**
 * Baselines trained by `autoprune train` and committed with their run record
 * (seed, accuracies) beside the model, so a first prune need not train.
 */
const SHIPPED_DIR = fileURLToPath(new URL('../models/pretrained/', import.meta.url));

export function shippedBaseline(model: string, dataset: string): string | undefined {
  const path = join(SHIPPED_DIR, `${model}-${dataset}`, 'model.json');
  return existsSync(path) ? path : undefined;
}

/** `data`: the data's key (dataKey: a data set name, or a folder's resolved path). */
export function findBaseline(spec: string, data: string, runsDir: string): BaselineSource {
  if (existsSync(spec) && !isZooName(spec)) return { kind: 'file', path: resolve(statSync(spec).isDirectory() ? join(spec, 'model.json') : spec) };
  const runModel = join(runsDir, spec, 'model', 'model.json');
  if (isRunId(spec) && existsSync(runModel)) return { kind: 'run', path: runModel, runId: spec };
  if (!isZooName(spec)) return { kind: 'file', path: resolve(spec) }; // loadModel names the missing file
  const candidates = listRuns(runsDir)
    .records.filter((r) => r.command === 'train' && r.status === 'done' && r.config.model === spec && dataKey(r.config) === data)
    .filter((r) => existsSync(join(runsDir, r.id, 'model', 'model.json')))
    .reverse();
  if (candidates.length === 0) {
    const shipped = shippedBaseline(spec, data);
    return shipped === undefined ? { kind: 'none', zooName: spec } : { kind: 'shipped', path: shipped };
  }
  return { kind: 'run', path: join(runsDir, candidates[0].id, 'model', 'model.json'), runId: candidates[0].id };
}

export async function loadBaseline(source: Exclude<BaselineSource, { kind: 'none' }>): Promise<tf.LayersModel> {
  return loadModel(source.path);
}

/**
 * The baseline as its user reads it: the name they gave (a zoo name, a run
 * id, a path as they typed it) and, for a zoo name, the model it found; a
 * shipped baseline by its name, never by the absolute path of the install.
 */
export function baselineLabel(spec: string, path: string): string {
  const shipped = relative(SHIPPED_DIR, path);
  if (!shipped.startsWith('..') && !isAbsolute(shipped)) return `the shipped ${dirname(shipped)} baseline`;
  const runId = basename(dirname(dirname(path)));
  return isZooName(spec) && isRunId(runId) && path.endsWith(join(runId, 'model', 'model.json')) ? `${spec} (trained in run ${runId})` : spec;
}
