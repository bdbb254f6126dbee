/**
 * Picks the TensorFlow.js backend: native GPU, native CPU, wasm, then pure JS.
 *
 * The native packages are optional dependencies (their installer downloads
 * libtensorflow, which fails on machines without internet), so they are
 * probed with a dynamic import and skipped when absent.
 */
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerBroadcastingBatchNormGradient } from './batchnorm-gradient.js';
import { registerWasmTrainingKernels } from './wasm-kernels.js';

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
}

export class BackendError extends Error {}

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

async function activate(name: BackendName): Promise<string | undefined> {
  const unavailable = await tryNative(name);
  if (unavailable !== undefined) return unavailable;
  if (name === 'wasm') registerWasmTrainingKernels();
  registerBroadcastingBatchNormGradient();
  try {
    const ok = await tf.setBackend(name);
    if (!ok) return `backend ${name} failed to initialise`;
    await tf.ready();
    return undefined;
  } catch (err) {
    return `backend ${name} failed to initialise: ${(err as Error).message}`;
  }
}

/**
 * Activates `forced` if given (an error when it is unavailable), otherwise the
 * fastest available backend.
 */
export async function selectBackend(forced?: string): Promise<BackendChoice> {
  if (forced !== undefined) {
    if (!(BACKEND_NAMES as readonly string[]).includes(forced)) {
      throw new BackendError(`--backend: unknown backend "${forced}"; choose one of ${BACKEND_NAMES.join(', ')}`);
    }
    const name = forced as BackendName;
    const why = await activate(name);
    if (why !== undefined) {
      const hint = NATIVE_PACKAGES[name] ? ` (install it with: npm install ${NATIVE_PACKAGES[name]})` : '';
      throw new BackendError(`--backend ${name}: ${why}${hint}`);
    }
    return { name, reason: 'forced with --backend', skipped: [] };
  }
  const skipped: BackendChoice['skipped'] = [];
  for (const name of BACKEND_NAMES) {
    const why = await activate(name);
    if (why === undefined) return { name, reason: 'first available', skipped };
    skipped.push({ name, why });
  }
  throw new BackendError(`no TensorFlow.js backend could be initialised: ${skipped.map((s) => s.why).join('; ')}`);
}
