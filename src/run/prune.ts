/**
 * The agent as a library call: prune a trained model on data already in
 * memory, within a tolerance, with no run folder.
 *
 *   const { model, summary } = await prune(trained, loadDataset('mnist'), { tolerance: 1 });
 */
import * as tf from '@tensorflow/tfjs';
import { lastValueFrom, tap } from 'rxjs';
import type { Dataset } from '../data/datasets.js';
import { latencyTableFor } from '../latency/for-run.js';
import { checkPrunable } from '../prune/graph.js';
import { parsePruneConfig, type PruneConfig } from './config.js';
import { stopRequested } from '../train/train.js';
import { MemoryStore } from './store.js';
import { type PruneResult, type RunEvent, type RunSummary, tryAndLearn } from './try-and-learn.js';
import { checkDataArgument, checkModelArgument } from '../arguments.js';

/** Config fields as in a config file: each group partial, the rest defaults (see describeConfig). */
export type PruneOptions = { [K in keyof PruneConfig]?: PruneConfig[K] extends object ? Partial<PruneConfig[K]> : PruneConfig[K] };

export interface PruneHooks {
  /** Every event of the run, as the CLI's dashboard gets them. */
  onEvent?: (event: RunEvent) => void;
  /** Aborted, the run stops after the current agent iteration or fine-tuning batch (an InterruptedError). */
  signal?: AbortSignal;
}

/**
 * Runs try-and-learn on `baseline` (left unchanged) and returns the pruned,
 * fine-tuned model (the caller disposes it) with the run's summary. The
 * tolerance is checked on `data.validation`; the report uses `data.test`.
 */
export async function prune(
  baseline: tf.LayersModel,
  data: Dataset,
  options: PruneOptions = {},
  hooks: PruneHooks = {},
): Promise<{ model: tf.LayersModel; summary: RunSummary }> {
  checkModelArgument(baseline, 'prune');
  checkDataArgument(data, 'prune');
  const config = parsePruneConfig(options, 'prune options');
  checkPrunable(baseline, 'the model');
  const store = new MemoryStore<PruneResult>({});
  try {
    let summary: RunSummary | undefined;
    const latency = config.phi === 'latency' ? (await latencyTableFor(baseline, config.latency)).table : undefined;
    const events = tryAndLearn({ baseline, data, config, store, backend: tf.getBackend(), shouldStop: stopRequested(hooks.signal), latency }).pipe(
      tap((event) => {
        hooks.onEvent?.(event);
        if (event.type === 'run-done') summary = event.summary;
      }),
    );
    await lastValueFrom(events, { defaultValue: undefined });
    return { model: await store.loadModel(summary!.modelPath), summary: summary! };
  } finally {
    store.dispose();
  }
}
