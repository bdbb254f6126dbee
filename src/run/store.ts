/**
 * Where a try-and-learn run keeps its progress: the record of finished
 * groups and the models (a checkpoint per group, the final model). The CLI
 * keeps them in a run folder, so that an interrupted run resumes; a library
 * caller needs no folder and gets an in-memory store by default.
 */
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { cloneModel, loadModel, saveModel } from '../models/io.js';
import type { WeightsDtype } from '../models/quantize.js';
import type { Run } from './records.js';
import { timed } from '../phases.js';

export interface RunStore<R extends object> {
  /** The run's name in events. */
  readonly id: string;
  /** What the run recorded so far: empty for a new run, the finished groups of one being resumed. */
  readonly result: R;
  /** Replaces the recorded result (after each group and at the end). */
  record(result: R): Promise<void>;
  /**
   * Keeps a copy of `model` under `name` ("checkpoints/group-0", "model");
   * returns the reference loadModel takes. `weightsDtype`: how files store
   * its weights (a store in memory keeps them as they are).
   */
  saveModel(model: tf.LayersModel, name: string, weightsDtype?: WeightsDtype): Promise<string>;
  /** A fresh copy of a model kept by saveModel. */
  loadModel(reference: string): Promise<tf.LayersModel>;
  /** The run finished. */
  finish(): Promise<void>;
}

/** The CLI's store: the run folder's record (run.json) and model folders under it. */
export function folderStore<R extends object>(run: Run<R>): RunStore<R> {
  return {
    id: run.id,
    get result() {
      return run.record.result;
    },
    record: (result) => timed('io', () => run.update((r) => (r.result = result))),
    saveModel: (model, name, weightsDtype) => saveModel(model, join(run.dir, name), weightsDtype),
    loadModel: (reference) => loadModel(reference),
    finish: () => run.finish('done'),
  };
}

/**
 * A store in memory: nothing on disk, no resume across processes. `models`
 * holds the kept copies (every checkpoint: certification walks the run's
 * path of models); `dispose` frees them.
 */
export class MemoryStore<R extends object> implements RunStore<R> {
  finished = false;
  readonly models = new Map<string, tf.LayersModel>();

  /** `result`: what the run starts from (empty for a new one). */
  constructor(
    public result: R,
    readonly id = 'in-memory',
  ) {}

  async record(result: R): Promise<void> {
    this.result = result;
  }

  async saveModel(model: tf.LayersModel, name: string): Promise<string> {
    const copy = await cloneModel(model);
    this.models.get(name)?.dispose();
    this.models.set(name, copy);
    return name;
  }

  async loadModel(reference: string): Promise<tf.LayersModel> {
    const model = this.models.get(reference);
    if (model === undefined) throw new Error(`no model "${reference}" in this in-memory store`);
    return cloneModel(model);
  }

  async finish(): Promise<void> {
    this.finished = true;
  }

  dispose(): void {
    this.models.forEach((model) => model.dispose());
    this.models.clear();
  }
}
