/** A heap pool's helper thread (heap-pool.ts): says it is ready, then runs kernel blocks for the rest of the process. */
import { parentPort, workerData } from 'node:worker_threads';
import { type HeapPoolShared, serveBlocks } from './heap-pool.js';

serveBlocks(workerData as HeapPoolShared, () => parentPort!.postMessage('ready'));
