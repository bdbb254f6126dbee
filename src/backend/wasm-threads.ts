/**
 * Multi-threaded wasm kernels in Node.
 *
 * tfjs-backend-wasm ships a pthreads + SIMD build whose XNNPACK kernels
 * (convolutions, matmuls) split their work over several threads, but tfjs
 * turns it off in Node (tfjs issue #3830) because it cannot start there:
 * emscripten creates its threads as workers from `blob:` URLs, which Node's
 * worker_threads refuses, and each thread then loads the module from a Blob.
 * This shim writes the worker script and the module to a private cache folder
 * (this user's, mode 700), sends the workers there, and enables the build.
 *
 * The build sizes its thread pool as min(requested, logical cores / 2),
 * assuming two hyperthreads per core; on a 2-core machine that is always 1.
 * The core count it reads (`os.cpus()`) is raised to 2 x threads while the
 * backend initialises, so the requested count is what it gets.
 *
 * XNNPACK never splits a dot product across threads, so every output value is
 * computed in the same order whatever the thread count: results are
 * bit-identical (test/wasm-threads.test.ts).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join } from 'node:path';
import worker_threads from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { setThreadsCount } from '@tensorflow/tfjs-backend-wasm';

const require = createRequire(import.meta.url);

/** The build starts a pool of 8 workers and XNNPACK uses at most that many. */
export const MAX_WASM_THREADS = 8;

/** Writes `content` to `dir/name` unless that file already holds it (atomically, so concurrent processes agree). */
function writeOnce(dir: string, name: string, content: string): string {
  const path = join(dir, name);
  if (!existsSync(path) || readFileSync(path, 'utf8') !== content) {
    const temp = `${path}.${process.pid}.tmp`;
    writeFileSync(temp, content, { mode: 0o600 });
    renameSync(temp, path);
  }
  return path;
}

/**
 * This user's private cache folder: the files in it run as code, so it must
 * be ours and closed to other users.
 */
function privateCacheDir(name: string): string {
  const base = join(os.tmpdir(), `autoprune-${os.userInfo().uid}`);
  mkdirSync(base, { recursive: true, mode: 0o700 });
  const stats = statSync(base);
  if ((stats.uid !== os.userInfo().uid && os.userInfo().uid !== -1) || (stats.mode & 0o077) !== 0) {
    throw new Error(`${base} must belong to you and be closed to others (chmod 700) before autoprune runs code from it`);
  }
  const dir = join(base, name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** The worker script and the module as files; returns the worker's path. */
function writeThreadFiles(): string {
  const factory = require('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js') as () => unknown;
  const { wasmWorkerContents } = require('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js') as {
    wasmWorkerContents: string;
  };
  // The same module text tfjs puts in its Blob.
  const moduleSource = `var WasmBackendModuleThreadedSimd = ${factory.toString()}`;
  // tfjs stores the worker in a template literal, which turned its "\n" escapes into newlines.
  const workerSource = wasmWorkerContents.replace(/\n/g, '\\n');
  const hash = createHash('sha1').update(moduleSource).update(workerSource).digest('hex').slice(0, 12);
  const dir = privateCacheDir(`wasm-threads-${hash}`);
  const modulePath = writeOnce(dir, 'module.js', moduleSource);
  // The worker is told to load the module from a Blob; it reads the file instead.
  const redirect =
    `{const threads=require("worker_threads");const on=threads.parentPort.on.bind(threads.parentPort);` +
    `threads.parentPort.on=(event,listener)=>on(event,event!=="message"?listener:(data)=>{` +
    `if(data&&data.cmd==="load"&&typeof data.urlOrBlob!=="string")data.urlOrBlob=${JSON.stringify(modulePath)};listener(data)});}\n`;
  return writeOnce(dir, 'worker.js', redirect + workerSource);
}

/**
 * Makes the wasm backend use `threads` kernel threads. Call before the wasm
 * backend first initialises; `initialise` is that first initialisation.
 */
export async function withWasmThreads<T>(threads: number, initialise: () => Promise<T>): Promise<T> {
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_WASM_THREADS) {
    throw new Error(`wasm threads must be an integer from 1 to ${MAX_WASM_THREADS}, got ${threads}`);
  }
  if (threads === 1) return initialise();
  const workerPath = writeThreadFiles();
  const OriginalWorker = worker_threads.Worker;
  class FileWorker extends OriginalWorker {
    constructor(file: string | URL, options?: worker_threads.WorkerOptions) {
      super(typeof file === 'string' && file.startsWith('blob:') ? workerPath : file, options);
    }
  }
  (worker_threads as { Worker: typeof OriginalWorker }).Worker = FileWorker;
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  setThreadsCount(threads);
  const realCpus = os.cpus;
  os.cpus = () => {
    const cpus = realCpus();
    return Array.from({ length: Math.max(cpus.length, 2 * threads) }, (_, i) => cpus[i % cpus.length]);
  };
  try {
    const result = await initialise();
    // XNNPACK's threads run for the life of the process; unreferenced, they do not keep it from exiting.
    const module = (tf.findBackend('wasm') as unknown as { wasm?: { PThread?: { runningWorkers: worker_threads.Worker[] } } })?.wasm;
    for (const worker of module?.PThread?.runningWorkers ?? []) worker.unref();
    return result;
  } finally {
    os.cpus = realCpus;
    (worker_threads as { Worker: typeof OriginalWorker }).Worker = OriginalWorker;
  }
}
