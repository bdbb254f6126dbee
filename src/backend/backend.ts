/**
 * Picks the TensorFlow.js backend: native GPU, native CPU, wasm, then pure JS.
 *
 * The native packages are optional dependencies (their installer downloads
 * libtensorflow, which fails on machines without internet), so they are
 * probed with a dynamic import and skipped when absent.
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { registerBroadcastingBatchNormGradient } from './batchnorm-gradient.js';
import { registerFusedBatchNormTraining } from './batchnorm-training.js';
import { registerFusedRelu6 } from './relu6.js';
import { startHeapPool } from './heap-pool.js';
import { registerWasmTrainingKernels, type WasmBackendLike } from './wasm-kernels.js';
import { MAX_WASM_THREADS, withWasmThreads } from './wasm-threads.js';
import { BackendError } from '../errors.js';
import { plural } from '../text.js';

export const BACKEND_NAMES = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

/** The npm package that provides each backend that is not bundled. */
const NATIVE_PACKAGES: Partial<Record<BackendName, string>> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
};

export interface BackendChoice {
  /** The backend's registered name, as tf.getBackend() reports it. */
  name: BackendName;
  /** Why this backend was chosen (forced, or the first available). */
  reason: string;
  /** Backends tried before it, with why each was skipped. */
  skipped: { name: BackendName; why: string }[];
  /** Kernel threads of the wasm backend (other backends manage their own). */
  threads?: number;
}

export interface BackendOptions {
  /**
   * Kernel threads for the wasm backend; fixed by the first initialisation in
   * a process. Default: $AUTOPRUNE_WASM_THREADS, else one per core.
   */
  threads?: number;
}

/** The chosen backend in a line: its name, why, its kernel threads, and what was skipped. */
export function describeBackend({ name, reason, threads, skipped }: BackendChoice): string {
  const skippedText = skipped.length > 0 ? `; skipped: ${skipped.map((s) => s.why).join('; ')}` : '';
  return `${name} (${reason}${threads === undefined ? '' : `, ${plural(threads, 'kernel thread')}`}${skippedText})`;
}

/** Wasm threads for each of `processes` processes sharing this machine: its cores split evenly, 1 to 8. */
export function wasmThreadsPerProcess(processes: number): number {
  return Math.min(MAX_WASM_THREADS, Math.max(1, Math.floor(os.availableParallelism() / processes)));
}

/** The wasm thread count used when none is given: $AUTOPRUNE_WASM_THREADS, else one per core (at most 8). */
export function defaultWasmThreads(): number {
  const fromEnv = process.env.AUTOPRUNE_WASM_THREADS;
  if (fromEnv === undefined || fromEnv === '') return wasmThreadsPerProcess(1);
  const threads = Number(fromEnv);
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_WASM_THREADS) {
    throw new BackendError(`AUTOPRUNE_WASM_THREADS must be an integer from 1 to ${MAX_WASM_THREADS}, got "${fromEnv}"`);
  }
  return threads;
}

let wasmInitialised = false;

async function tryNative(name: BackendName): Promise<string | undefined> {
  const pkg = NATIVE_PACKAGES[name];
  if (pkg === undefined) return undefined;
  try {
    createRequire(import.meta.url).resolve(pkg);
  } catch {
    return `${pkg} is not installed`;
  }
  try {
    await import(pkg);
    return undefined;
  } catch (err) {
    return `${pkg} failed to load: ${(err as Error).message.split('\n')[0]}`;
  }
}

async function activate(name: BackendName, options: BackendOptions): Promise<string | undefined> {
  const unavailable = await tryNative(name);
  if (unavailable !== undefined) return unavailable;
  if (name === 'wasm') {
    registerWasmTrainingKernels();
    registerFusedBatchNormTraining();
    registerFusedRelu6();
  }
  registerBroadcastingBatchNormGradient();
  // A bad thread count is the user's error, not an unavailable backend: it throws.
  const threads = name === 'wasm' && !wasmInitialised ? (options.threads ?? defaultWasmThreads()) : undefined;
  try {
    const initialise = async () => {
      const set = await tf.setBackend(name);
      if (set) await tf.ready();
      return set;
    };
    const ok = threads !== undefined ? await withWasmThreads(threads, initialise) : await initialise();
    if (!ok) return `backend ${name} failed to initialise`;
    if (name === 'wasm') wasmInitialised = true;
    // The project's JS kernels get the other threads too (the threaded build's heap is shared).
    const memory = (tf.backend() as unknown as WasmBackendLike).wasm?.wasmMemory;
    if (threads !== undefined && threads > 1 && memory !== undefined) await startHeapPool(memory, threads - 1);
    return undefined;
  } catch (err) {
    return `backend ${name} failed to initialise: ${(err as Error).message}`;
  }
}

/**
 * Activates `forced` if given (an error when it is unavailable), otherwise the
 * fastest available backend.
 */
export async function selectBackend(forced?: string, options: BackendOptions = {}): Promise<BackendChoice> {
  if (forced !== undefined) {
    if (!(BACKEND_NAMES as readonly string[]).includes(forced)) {
      throw new BackendError(`--backend: unknown backend "${forced}"; choose one of ${BACKEND_NAMES.join(', ')}`);
    }
    const name = forced as BackendName;
    const why = await activate(name, options);
    if (why !== undefined) {
      const hint = NATIVE_PACKAGES[name] ? ` (install it with: npm install ${NATIVE_PACKAGES[name]})` : '';
      throw new BackendError(`--backend ${name}: ${why}${hint}`);
    }
    return withThreads({ name, reason: 'forced with --backend', skipped: [] });
  }
  const skipped: BackendChoice['skipped'] = [];
  for (const name of BACKEND_NAMES) {
    const why = await activate(name, options);
    if (why === undefined) return withThreads({ name, reason: 'first available', skipped });
    skipped.push({ name, why });
  }
  throw new BackendError(`no TensorFlow.js backend could be initialised: ${skipped.map((s) => s.why).join('; ')}`);
}

/** Bytes of the wasm backend's heap (0 on other backends): it grows and never shrinks, so growth means a leak. */
export function wasmHeapBytes(): number {
  return (tf.backend() as unknown as { wasm?: { HEAPU8: Uint8Array } }).wasm?.HEAPU8.length ?? 0;
}

/**
 * Candidate-scoring workers when none are asked for: one per wasm kernel
 * thread (the cores this process was given: --threads, $AUTOPRUNE_WASM_THREADS,
 * or one per core); 1 on other backends, which manage their own threads.
 */
export function defaultScoringWorkers(): number {
  return tf.getBackend() === 'wasm' ? getThreadsCount() : 1;
}

function withThreads(choice: BackendChoice): BackendChoice {
  return choice.name === 'wasm' ? { ...choice, threads: getThreadsCount() } : choice;
}
