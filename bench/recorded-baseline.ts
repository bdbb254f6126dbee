/**
 * What the benches that measure on a compare config's baseline share: its
 * command-line options (--config, --model, --dataset, --validation-size), and
 * the config, the baseline and its data loaded as a run loads them (the
 * baseline's recorded split), on wasm.
 */
import { readFileSync } from 'node:fs';
import type * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/backend.js';
import type { Dataset } from '../src/data/datasets.js';
import { parsePruneConfig, type PruneConfig } from '../src/run/config.js';
import { SILENT_LOG } from '../src/run/log.js';
import { loadRecordedData } from '../src/run/prune-run.js';

export const BASELINE_OPTIONS = {
  config: { type: 'string' },
  model: { type: 'string' },
  dataset: { type: 'string', default: 'fashion-mnist' },
  'validation-size': { type: 'string' },
} as const;

/** The config file's fields with `overrides` over them, the baseline and its data. */
export async function loadRecordedBaseline(
  values: { config?: string; model?: string; dataset?: string; 'validation-size'?: string },
  overrides: Partial<PruneConfig> = {},
): Promise<{ config: PruneConfig; data: Dataset; baseline: tf.LayersModel }> {
  if (values.config === undefined || values.model === undefined) throw new Error('give --config and --model');
  await selectBackend('wasm');
  const config = parsePruneConfig({ ...JSON.parse(readFileSync(values.config, 'utf8')), ...overrides }, values.config);
  const validationSize = values['validation-size'] === undefined ? config.validationSize : Number(values['validation-size']);
  const { data, baseline } = await loadRecordedData(
    { ...config, dataset: (values.dataset ?? 'fashion-mnist') as PruneConfig['dataset'], validationSize, splitSeed: 0 },
    values.model,
    SILENT_LOG,
  );
  return { config, data, baseline };
}
