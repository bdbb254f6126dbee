/**
 * Where a pruned model's time is measured: this process's backend, or a
 * page in headless Chromium running tfjs's wasm or webgl backend, as a web
 * page that loads the model would (driven by playwright-core). Both time
 * with the same loop (page/timing-loop.js).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { timeModels } from './page/timing-loop.js';
import { LatencyError } from '../errors.js';

export const LATENCY_TARGETS = ['this', 'chromium-wasm', 'chromium-webgl'] as const;
export type LatencyTargetName = (typeof LATENCY_TARGETS)[number];

export interface TimingOptions {
  /** Rounds over all the models (each model's time is the median of its rounds). */
  rounds?: number;
  /** Each model's block of calls in a round lasts at least this long. */
  minBlockMs?: number;
}

export interface LatencyTarget {
  readonly name: LatencyTargetName;
  /** What it is, e.g. "wasm in this process (2 threads)" or "Chromium 156 wasm (1 thread)". */
  readonly description: string;
  /** Milliseconds per forward pass at `batch` of each model, one per round, the models alternated. */
  time(models: tf.LayersModel[], batch: number, options?: TimingOptions): Promise<number[][]>;
  close(): Promise<void>;
}

/** The backend this process runs on. */
export function thisProcess(): LatencyTarget {
  const backend = tf.getBackend();
  const threads = backend === 'wasm' ? ` (${getThreadsCount()} thread${getThreadsCount() === 1 ? '' : 's'})` : '';
  return {
    name: 'this',
    description: `${backend} in this process${threads}`,
    time: (models, batch, { rounds, minBlockMs } = {}) => timeModels(tf, models, batch, rounds, minBlockMs),
    close: async () => {},
  };
}

/** The Chromium to drive, as a path: $CHROMIUM, else `chromium`, `chromium-browser` or `google-chrome` on the PATH; undefined when none runs. */
export function findChromium(): string | undefined {
  const candidates = process.env.CHROMIUM ? [process.env.CHROMIUM] : ['chromium', 'chromium-browser', 'google-chrome'];
  for (const candidate of candidates) {
    const found = spawnSync('sh', ['-c', 'command -v "$0"', candidate], { encoding: 'utf8' }).stdout.trim();
    if (found !== '' && spawnSync(found, ['--version'], { encoding: 'utf8' }).status === 0) return found;
  }
  return undefined;
}

const require = createRequire(import.meta.url);
const tfjsDist = dirname(require.resolve('@tensorflow/tfjs/dist/tf.min.js'));
const wasmDist = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.min.js'));
const here = dirname(fileURLToPath(import.meta.url));

/** What the page's server hands out: tfjs, its wasm backend and binaries, and the timing loop. */
const PAGE_FILES: Record<string, string> = {
  '/tf.min.js': join(tfjsDist, 'tf.min.js'),
  '/tf-backend-wasm.min.js': join(wasmDist, 'tf-backend-wasm.min.js'),
  '/tfjs-backend-wasm.wasm': join(wasmDist, 'tfjs-backend-wasm.wasm'),
  '/tfjs-backend-wasm-simd.wasm': join(wasmDist, 'tfjs-backend-wasm-simd.wasm'),
  '/tfjs-backend-wasm-threaded-simd.wasm': join(wasmDist, 'tfjs-backend-wasm-threaded-simd.wasm'),
  '/timing-loop.js': join(here, 'page', 'timing-loop.js'),
};

const PAGE = `<!doctype html><html><head><meta charset="utf-8">
<script src="/tf.min.js"></script><script src="/tf-backend-wasm.min.js"></script>
<script type="module">import { timeModels } from '/timing-loop.js'; window.timeModels = timeModels; window.timingReady = true;</script>
</head><body></body></html>`;

/**
 * A page in headless Chromium with tfjs on `backend` (wasm: single-threaded,
 * as in a page that is not cross-origin isolated; webgl: the browser's GL,
 * software-rendered where there is no GPU). Models are sent as topologies
 * and built in the page with their initializers' weights: timing does not
 * depend on the weights' values.
 */
export async function openChromium(backend: 'wasm' | 'webgl'): Promise<LatencyTarget> {
  const executablePath = findChromium();
  if (executablePath === undefined)
    throw new LatencyError('no Chromium to measure in: install it (Debian: apt-get install chromium) or set CHROMIUM to its path');
  const { chromium } = await import('playwright-core');
  const server = await serve();
  const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--enable-unsafe-swiftshader', '--use-angle=swiftshader'] });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => (window as unknown as { timingReady?: boolean }).timingReady === true);
    const description = await page.evaluate(async (name) => {
      const t = (window as unknown as { tf: typeof tf }).tf;
      if (name === 'wasm') (t as unknown as { wasm: { setWasmPaths: (p: string) => void } }).wasm.setWasmPaths('/');
      if (!(await t.setBackend(name))) throw new Error(`tfjs could not start its ${name} backend in the page`);
      await t.ready();
      return `${navigator.userAgent.match(/Chrome\/[\d.]+/)?.[0] ?? 'Chromium'} ${name}`;
    }, backend);
    return {
      name: `chromium-${backend}`,
      description,
      time: (models, batch, { rounds = 5, minBlockMs = 20 } = {}) =>
        page.evaluate(
          async ({ topologies, batch, rounds, minBlockMs }) => {
            const w = window as unknown as { tf: typeof tf; timeModels: typeof timeModels };
            const built = await Promise.all(topologies.map((t) => w.tf.models.modelFromJSON({ modelTopology: t as tf.io.ModelJSON['modelTopology'] })));
            try {
              return await w.timeModels(w.tf, built, batch, rounds, minBlockMs);
            } finally {
              for (const m of built) m.dispose();
            }
          },
          { topologies: models.map((m) => m.toJSON(null, false) as object), batch, rounds, minBlockMs },
        ),
      close: async () => {
        await browser.close();
        server.close();
      },
    };
  } catch (err) {
    await browser.close();
    server.close();
    throw new LatencyError(`Chromium (${executablePath}): ${(err as Error).message.split('\n')[0]}`);
  }
}

function serve(): Promise<Server> {
  const server = createServer((request, response) => {
    const path = request.url ?? '/';
    if (path === '/') {
      response.setHeader('content-type', 'text/html');
      response.end(PAGE);
      return;
    }
    const file = PAGE_FILES[path];
    if (file === undefined) {
      response.statusCode = 404;
      response.end();
      return;
    }
    response.setHeader('content-type', path.endsWith('.wasm') ? 'application/wasm' : 'text/javascript');
    response.end(readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** The target `name` names: this process, or a Chromium page. */
export function openTarget(name: LatencyTargetName): Promise<LatencyTarget> {
  return name === 'this' ? Promise.resolve(thisProcess()) : openChromium(name === 'chromium-wasm' ? 'wasm' : 'webgl');
}
