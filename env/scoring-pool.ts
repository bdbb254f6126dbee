/**
 * Scores the agent's sampled masks in parallel: a pool of worker threads
 * (piscina), each holding its own copy of the network being pruned, the
 * reward images and the current group's cached activations, built from the
 * environment's state the first time a task of that state reaches it. The
 * state changes when a group starts or the network is replaced; tasks carry
 * it (the images and weights in SharedArrayBuffers, so nothing large is
 * copied per task). A worker scores a mask with the same code, weights,
 * images and batches as the environment itself, so accuracies, and with
 * them the agent's decisions, do not depend on the number of workers.
 */
import { Piscina } from 'piscina';
import type { CandidateScorer, ImageRange, ScoringState } from './pruning-env.js';
import { ScoringError } from '../src/errors.js';

export interface ScoreTask {
  state: ScoringState;
  mask: Uint8Array;
  images?: ImageRange;
}

export class ScoringPool implements CandidateScorer {
  /** A worker that failed outside a task (while starting): reported by the next score. */
  private failure?: Error;

  private constructor(
    private readonly piscina: Piscina,
    readonly workers: number,
  ) {
    piscina.on('error', (err: Error) => {
      this.failure ??= err;
    });
  }

  /**
   * Starts `workers` threads. Run from TypeScript sources (tsx), the workers
   * load them the same way, with this package's tsx whatever the working folder.
   */
  static start(workers: number): ScoringPool {
    const fromSources = new URL(import.meta.url).pathname.endsWith('.ts');
    const piscina = new Piscina({
      filename: new URL(`./score-worker.${fromSources ? 'ts' : 'js'}`, import.meta.url).href,
      minThreads: workers,
      maxThreads: workers,
      // A worker keeps its copy of the network between iterations: never retire an idle one.
      idleTimeout: Number.POSITIVE_INFINITY,
      execArgv: fromSources ? ['--import', import.meta.resolve('tsx')] : [],
    });
    return new ScoringPool(piscina, workers);
  }

  /** The accuracy of each mask under `state` on `images` (default: all), in order. */
  async score(state: ScoringState, masks: ArrayLike<number>[], images?: ImageRange): Promise<number[]> {
    try {
      if (this.failure !== undefined) throw this.failure;
      return await Promise.all(masks.map((mask) => this.piscina.run({ state, mask: Uint8Array.from(mask), images } satisfies ScoreTask) as Promise<number>));
    } catch (err) {
      const reason = (err as Error).message.split('\n')[0];
      throw new ScoringError(`a candidate-scoring worker failed: ${reason} (--workers 1 scores in the main thread)`);
    }
  }

  /** Tensors and wasm heap bytes of one worker (for leak checks). */
  memory(): Promise<{ tensors: number; wasmHeapBytes: number }> {
    return this.piscina.run(undefined, { name: 'memory' });
  }

  destroy(): Promise<void> {
    return this.piscina.destroy();
  }
}
