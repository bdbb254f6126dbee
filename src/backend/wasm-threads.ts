/**
 * Multi-threaded wasm kernels in Node.
 *
 * tfjs-backend-wasm ships a pthreads + SIMD build whose XNNPACK kernels
 * (convolutions, matmuls) split their work over several threads, but tfjs
 * turns it off in Node (tfjs issue #3830) because it cannot start there:
 * emscripten creates its threads as workers from `blob:` URLs, which Node's
 * worker_threads refuses, and each thread then loads the module from a Blob.
 * This shim writes the worker script and the module to a cache folder, sends
 * the workers there, and enables the build.
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
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join } from 'node:path';
import worker_threads from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { setThreadsCount } from '@tensorflow/tfjs-backend-wasm';

const require = createRequire(import.meta.url);

/** Writes `content` to `dir/name` unless present (atomically, so concurrent processes agree). */
function writeOnce(dir: string, name: string, content: string): string {
  const path = join(dir, name);
  if (!existsSync(path)) {
    const temp = `${path}.${process.pid}.tmp`;
    writeFileSync(temp, content);
    renameSync(temp, path);
  }
  return path;
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
  const dir = join(os.tmpdir(), `autoprune-wasm-threads-${hash}`);
  mkdirSync(dir, { recursive: true });
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
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`wasm threads must be a positive integer, got ${threads}`);
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
