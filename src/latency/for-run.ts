/**
 * The latency table a run uses: the one in its folder (a resumed run keeps
 * the table its decisions were made with), one given by path, or one
 * measured now on the target and checked against whole-network timings.
 */
import { existsSync, readFileSync } from 'node:fs';
import type * as tf from '@tensorflow/tfjs';
import { writeFileAtomic } from '../models/io.js';
import { buildGraph } from '../prune/graph.js';
import { checkLatencyTable, type LatencyCheck, type LatencyTable, measureLatencyTable } from './table.js';
import { type LatencyTargetName, openTarget } from './target.js';
import { LatencyError } from '../errors.js';

export interface LatencySettings {
  target: LatencyTargetName;
  batch: number;
  /** A latency.json to use instead of measuring. */
  table?: string;
}

/** What latency.json holds: the table and how well it predicted whole networks. */
export interface LatencyFile {
  table: LatencyTable;
  check?: LatencyCheck;
}

/** Reads a latency.json; a one-line LatencyError names the file when it is not one, or was measured on another network. */
export function readLatencyFile(path: string, model: tf.LayersModel): LatencyFile {
  let parsed: LatencyFile;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8')) as LatencyFile;
  } catch (err) {
    throw new LatencyError(`${path}: not a readable latency table (${(err as Error).message.split('\n')[0]})`);
  }
  const table = parsed?.table;
  if (
    table === undefined ||
    !Array.isArray(table.layers) ||
    typeof table.offsetMs !== 'number' ||
    typeof table.scale !== 'number' ||
    typeof table.groups !== 'object'
  )
    throw new LatencyError(`${path}: not a latency table (expected {"table": {"layers": [...], "groups": {...}, "offsetMs": ..., "scale": ...}})`);
  const sizes = Object.fromEntries(
    buildGraph(model)
      .prunableGroups()
      .map((g) => [g.id, g.size]),
  );
  if (JSON.stringify(sizes) !== JSON.stringify(Object.fromEntries(Object.entries(table.groups).map(([id, n]) => [Number(id), n]))))
    throw new LatencyError(`${path}: measured on a network with groups ${JSON.stringify(table.groups)}, not this one's ${JSON.stringify(sizes)}`);
  return parsed;
}

/**
 * The table for `model` (unpruned) under `settings`, kept at `keepAt` (a run
 * folder's latency.json) when given; `log` hears what was measured.
 */
export async function latencyTableFor(
  model: tf.LayersModel,
  settings: LatencySettings,
  { keepAt, log = () => {} }: { keepAt?: string; log?: (line: string) => void } = {},
): Promise<LatencyFile> {
  if (keepAt !== undefined && existsSync(keepAt)) return readLatencyFile(keepAt, model);
  let file: LatencyFile;
  if (settings.table !== undefined) {
    file = readLatencyFile(settings.table, model);
    log(`latency: the table of ${settings.table} (${file.table.target}, batch ${file.table.batch})`);
  } else {
    const target = await openTarget(settings.target);
    try {
      log(`latency: timing every layer alone at its widths on ${target.description}, batch ${settings.batch}`);
      const table = await measureLatencyTable(model, target, { batch: settings.batch });
      const check = await checkLatencyTable(model, table, target);
      log(
        `latency: whole network ${table.wholeMs.toFixed(2)} ms; the table predicts ${check.prunings.length} random prunings within ${(100 * check.meanError).toFixed(1)}% on average (at most ${(100 * check.maxError).toFixed(1)}%); timing noise ${(100 * table.noise).toFixed(0)}%; ${table.seconds.toFixed(0)} s`,
      );
      file = { table, check };
    } finally {
      await target.close();
    }
  }
  if (keepAt !== undefined) writeFileAtomic(keepAt, `${JSON.stringify(file, null, 2)}\n`);
  return file;
}
