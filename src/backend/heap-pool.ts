/**
 * Threads for the project's JS kernels on the wasm heap. XNNPACK spreads the
 * backend's convolutions and matmuls over its threads, but the kernels
 * written here in JS (BatchNorm's fused training passes, ReLU6's gradient,
 * reductions over the leading axes) ran on the calling thread alone: half or
 * more of a MobileNet training step on one core. With more than one wasm
 * thread the heap is a SharedArrayBuffer (the threaded build's memory), so
 * worker threads can run a kernel's blocks (heap-blocks.ts) on it directly,
 * beside the calling thread, which waits for them with Atomics (a kernel is
 * synchronous). Blocks are handed out one at a time from a shared counter;
 * each writes only its own output or partial sums, so which thread ran a
 * block changes nothing: results are the same for any thread count.
 */
import { Worker } from 'node:worker_threads';
import { BLOCK_KERNELS } from './heap-blocks.js';

/** Slots of the control array shared with the helper threads. */
const GENERATION = 0; // bumped to start a kernel
const NEXT = 1; // the next block to take
const DONE = 2; // helpers finished with the current kernel
const KERNEL = 3;
const BLOCKS = 4;
const FAILED = 5; // a helper's block threw
const CONTROL_SLOTS = 6;
/** Arguments of a block kernel (offsets and sizes), at most. */
const MAX_ARGS = 16;
/** Longest wait for the helpers after this thread's blocks are done, before the pool is taken for broken. */
const STUCK_MS = 120_000;

export interface HeapPoolShared {
  memory: WebAssembly.Memory;
  control: Int32Array;
  args: Float64Array;
}

interface HeapPool extends HeapPoolShared {
  helpers: Worker[];
}

let pool: HeapPool | undefined;

/** The helpers, from src/backend/ or the built dist/src/backend/; run from TypeScript sources, they load them with this package's tsx. */
const FROM_SOURCES = new URL(import.meta.url).pathname.endsWith('.ts');
const HELPER = new URL(`./heap-worker.${FROM_SOURCES ? 'ts' : 'js'}`, import.meta.url);

/** What a helper thread runs: it imports heap-worker; from TypeScript sources, through this package's tsx, as bin/autoprune.mjs does. */
function helperSource(): string {
  const helper = JSON.stringify(HELPER.href);
  if (!FROM_SOURCES) return `import(${helper})`;
  return `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then(({ tsImport }) => tsImport(${helper}, ${helper}))`;
}

/**
 * Starts `helpers` threads on the shared wasm `memory` (once per process);
 * resolves when every one is waiting for work. Unreferenced, they do not keep
 * the process from exiting.
 */
export async function startHeapPool(memory: WebAssembly.Memory, helpers: number): Promise<void> {
  if (pool !== undefined || helpers < 1) return;
  if (!(memory.buffer instanceof SharedArrayBuffer)) throw new Error('the heap pool needs the threaded wasm build (a shared heap)');
  const control = new Int32Array(new SharedArrayBuffer(CONTROL_SLOTS * 4));
  const args = new Float64Array(new SharedArrayBuffer(MAX_ARGS * 8));
  const shared: HeapPoolShared = { memory, control, args };
  const workers = Array.from({ length: helpers }, () => new Worker(helperSource(), { eval: true, workerData: shared }));
  await Promise.all(
    workers.map(
      (worker) =>
        new Promise<void>((resolve, reject) => {
          worker.once('message', () => resolve());
          worker.once('error', reject);
          worker.once('exit', (code) => reject(new Error(`a heap pool thread exited (${code}) while starting`)));
        }),
    ),
  );
  for (const worker of workers) {
    worker.removeAllListeners();
    worker.unref();
  }
  pool = { ...shared, helpers: workers };
}

/** Threads that run block kernels: the calling one and the pool's helpers. */
export function heapPoolThreads(): number {
  return 1 + (pool?.helpers.length ?? 0);
}

/**
 * Runs blocks 0..blocks-1 of block kernel `kernel` (an index into
 * BLOCK_KERNELS) on the heap `heap` with `args`: spread over the pool's
 * threads and this one when there is a pool, else all here, in order.
 */
export function runBlocks(heap: ArrayBufferLike, kernel: number, args: number[], blocks: number): void {
  if (pool === undefined || blocks < 2) {
    const values = Float64Array.from(args);
    for (let block = 0; block < blocks; block++) BLOCK_KERNELS[kernel](heap, values, block, blocks);
    return;
  }
  const { control, memory } = pool;
  pool.args.set(args);
  Atomics.store(control, KERNEL, kernel);
  Atomics.store(control, BLOCKS, blocks);
  Atomics.store(control, NEXT, 0);
  Atomics.store(control, DONE, 0);
  Atomics.store(control, FAILED, 0);
  Atomics.add(control, GENERATION, 1);
  Atomics.notify(control, GENERATION);
  const shared = memory.buffer;
  const values = pool.args;
  for (let block = Atomics.add(control, NEXT, 1); block < blocks; block = Atomics.add(control, NEXT, 1)) BLOCK_KERNELS[kernel](shared, values, block, blocks);
  const helpers = pool.helpers.length;
  for (let done = Atomics.load(control, DONE); done < helpers; done = Atomics.load(control, DONE)) {
    if (Atomics.wait(control, DONE, done, STUCK_MS) === 'timed-out')
      throw new Error(`a heap pool thread did not finish its blocks within ${STUCK_MS / 1000} s`);
  }
  if (Atomics.load(control, FAILED) !== 0) throw new Error('a heap pool thread failed in a block kernel');
}

/** The helper thread's loop (heap-worker.ts): waits for a kernel, takes blocks until none is left, reports. */
export function serveBlocks({ memory, control, args }: HeapPoolShared, ready: () => void): never {
  let seen = Atomics.load(control, GENERATION);
  ready();
  for (;;) {
    Atomics.wait(control, GENERATION, seen);
    seen = Atomics.load(control, GENERATION);
    const kernel = BLOCK_KERNELS[Atomics.load(control, KERNEL)];
    const blocks = Atomics.load(control, BLOCKS);
    const heap = memory.buffer;
    try {
      for (let block = Atomics.add(control, NEXT, 1); block < blocks; block = Atomics.add(control, NEXT, 1)) kernel(heap, args, block, blocks);
    } catch {
      Atomics.store(control, FAILED, 1);
    }
    Atomics.add(control, DONE, 1);
    Atomics.notify(control, DONE);
  }
}
