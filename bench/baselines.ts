/**
 * Baseline numbers for the README: accuracy of the zoo models trained by
 * `autoprune train`, and training / inference throughput on each backend,
 * with PyTorch on the same machine for scale when Debian's python3-torch is
 * installed.
 *
 *   npx tsx bench/baselines.ts accuracy     # trains lenet5/mnist and vgg-small/fashion-mnist (about 90 min)
 *   npx tsx bench/baselines.ts throughput   # images/s per model on wasm and PyTorch, 1 thread and one per core (a few minutes)
 *   npx tsx bench/baselines.ts throughput --with-cpu   # also tfjs's pure-JS cpu backend (slow: tens of minutes)
 *   npx tsx bench/baselines.ts throughput --models mobilenetv2-0.35@96,mobilenetv2-0.35@224   # MODEL@SIZE: RGB images of SIZE x SIZE
 *   npx tsx bench/baselines.ts throughput --models mobilenetv2-0.35@224 --train-batch 32 --infer-batch 32   # batch sizes (default 64 and 256)
 *
 * A model without @SIZE is timed on 28x28 gray images (the zoo's 28 px models); PyTorch runs the same
 * architecture (torchvision's mobilenet_v2 with width_mult alpha for mobilenetv2-<alpha>).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/backend.js';
import { buildZooModel, ZOO_NAMES } from '../src/models/zoo.js';

const RUNS_DIR = process.env.AUTOPRUNE_BENCH_RUNS ?? 'runs';

const ACCURACY_TARGETS = [
  { model: 'lenet5', dataset: 'mnist', epochs: 6, target: 0.99 },
  { model: 'vgg-small', dataset: 'fashion-mnist', epochs: 5, target: 0.92 },
];

function accuracy(): void {
  console.log(
    `# accuracy: node bin/autoprune.mjs --no-tui train --model M --dataset D --epochs E --seed 0 (wasm, batch 64, Adam 1e-3 with cosine decay; best-validation-epoch weights)`,
  );
  for (const { model, dataset, epochs, target } of ACCURACY_TARGETS) {
    const args = [
      'bin/autoprune.mjs',
      '--no-tui',
      '--runs-dir',
      RUNS_DIR,
      'train',
      '--model',
      model,
      '--dataset',
      dataset,
      '--epochs',
      String(epochs),
      '--seed',
      '0',
    ];
    console.log(`$ node ${args.join(' ')}`);
    const started = Date.now();
    const child = spawnSync('node', args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
    if (child.status !== 0) throw new Error(`training ${model} on ${dataset} failed (exit ${child.status})`);
    const runId = child.stdout.trim().split('\n').pop()!;
    const record = JSON.parse(readFileSync(join(RUNS_DIR, runId, 'run.json'), 'utf8'));
    const { testAccuracy, validationAccuracy, epochs: history } = record.result;
    const trainRate = history.map((e: { imagesPerSecond: number }) => e.imagesPerSecond).sort((a: number, b: number) => a - b)[Math.floor(history.length / 2)];
    console.log(
      `${model} on ${dataset}: test accuracy ${(100 * testAccuracy).toFixed(2)}% (target >= ${100 * target}%: ${testAccuracy >= target ? 'met' : 'NOT met'}), ` +
        `validation ${(100 * validationAccuracy).toFixed(2)}%, ${epochs} epochs in ${((Date.now() - started) / 60000).toFixed(1)} min, ` +
        `median training ${trainRate.toFixed(0)} img/s, run ${runId}`,
    );
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Median images/s over `repeats` timed calls after `warmup` untimed ones. */
async function imagesPerSecond(images: number, step: () => Promise<void>, warmup = 2, repeats = 5): Promise<number> {
  for (let i = 0; i < warmup; i++) await step();
  const rates: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    await step();
    rates.push(images / ((performance.now() - t) / 1000));
  }
  return median(rates);
}

/** One model on one backend in this process (the wasm thread count is fixed per process). */
async function tfjsThroughput(backend: string, spec: string, threads: number, trainBatch: number, inferBatch: number) {
  await selectBackend(backend, { threads });
  const { model, inputShape } = parseSpec(spec);
  const net = buildZooModel(model, { inputShape, numClasses: 10, seed: 0 });
  net.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
  const xs = tf.randomUniform([trainBatch, ...inputShape]);
  const ys = tf.oneHot(tf.randomUniform([trainBatch], 0, 10, 'int32'), 10).toFloat();
  const xsInfer = tf.randomUniform([inferBatch, ...inputShape]);
  const slow = backend === 'cpu';
  const train = await imagesPerSecond(trainBatch, async () => void (await net.trainOnBatch(xs, ys)), 1, slow ? 2 : 5);
  const infer = await imagesPerSecond(
    inferBatch,
    async () => {
      const out = net.predict(xsInfer, { batchSize: inferBatch }) as tf.Tensor;
      await out.data();
      out.dispose();
    },
    1,
    slow ? 2 : 5,
  );
  tf.dispose([xs, ys, xsInfer]);
  net.dispose();
  return { train, infer };
}

/** "mobilenetv2-0.35@96": the zoo model on 96x96 RGB images; without @SIZE, 28x28 gray. */
function parseSpec(spec: string): { model: string; inputShape: [number, number, number] } {
  const [model, size] = spec.split('@');
  return { model, inputShape: size === undefined ? [28, 28, 1] : [Number(size), Number(size), 3] };
}

/** Runs `tfjsThroughput` in a child process; a process that fails (wasm's 4 GiB heap aborts a large batch) gives NaN and its first error line. */
function tfjsChild(backend: string, model: string, threads: number): Rates {
  const args = ['--import', 'tsx', 'bench/baselines.ts', 'one', backend, model, String(threads), String(BATCHES.train), String(BATCHES.infer)];
  const child = spawnSync(process.execPath, args, { encoding: 'utf8' });
  if (child.status === 0) return JSON.parse(child.stdout.trim().split('\n').pop()!);
  const why = child.stderr.split('\n').find((line) => /Aborted|Error/.test(line)) ?? `exit ${child.status}`;
  return { train: Number.NaN, infer: Number.NaN, error: why.slice(0, 120) };
}

/** Debian's python3-torch installs for the system python, which may not be the first python3 on PATH. */
function pythonWithTorch(): string | undefined {
  return ['/usr/bin/python3', 'python3'].find((py) => spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
}

interface Rates {
  train: number;
  infer: number;
  error?: string;
}

/** Batch sizes of the training step and of inference (flags --train-batch, --infer-batch). */
const flagValue = (flag: string, fallback: number) => {
  const at = process.argv.indexOf(flag);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};
const BATCHES = { train: flagValue('--train-batch', 64), infer: flagValue('--infer-batch', 256) };

const fmt = (r: Rates) => (r.error !== undefined ? `failed (${r.error})` : `${r.train.toFixed(0)} / ${r.infer.toFixed(0)}`);
const ratio = (a: { train: number; infer: number }, b: { train: number; infer: number }) =>
  `${(a.train / b.train).toFixed(2)}x / ${(a.infer / b.infer).toFixed(2)}x`;

async function throughput(): Promise<void> {
  const cores = availableParallelism();
  console.log(
    `# throughput: images/s (train / infer), median of 5 timed steps after warm-up; training = Adam step at batch ${BATCHES.train}, ` +
      `inference = forward at batch ${BATCHES.infer}; random inputs (MODEL@SIZE: SIZExSIZEx3, else 28x28x1); each configuration in its own process, models in turn; ${cores} cores; ${new Date().toISOString()}`,
  );
  const python = pythonWithTorch();
  if (python === undefined) console.log('PyTorch: skipped (python3-torch is not installed: apt-get install python3-torch)');
  const withCpu = process.argv.includes('--with-cpu');
  const rows: string[] = [
    `| model | wasm, 1 thread | wasm, ${cores} threads |${withCpu ? ' cpu |' : ''} PyTorch, 1 thread | PyTorch, ${cores} threads | wasm / PyTorch, 1 thread | wasm / PyTorch, ${cores} threads |`,
    `|---|---|---|${withCpu ? '---|' : ''}---|---|---|---|`,
  ];
  const flag = process.argv.indexOf('--models');
  const models = flag > 0 ? process.argv[flag + 1].split(',') : ZOO_NAMES.filter((m) => m !== 'mobilenetv2');
  for (const model of models) {
    const wasm1 = tfjsChild('wasm', model, 1);
    const wasmN = tfjsChild('wasm', model, cores);
    const cpuCell = withCpu ? ` ${fmt(tfjsChild('cpu', model, 1))} |` : '';
    let torchCells = ['skipped', 'skipped', '-', '-'];
    if (python !== undefined) {
      const torch = (threads: number) =>
        JSON.parse(
          execFileSync(python, ['bench/torch_throughput.py', model, String(threads), String(BATCHES.train), String(BATCHES.infer)], { encoding: 'utf8' })
            .trim()
            .split('\n')
            .pop()!,
        );
      const torch1 = torch(1);
      const torchN = torch(cores);
      torchCells = [fmt(torch1), fmt(torchN), ratio(wasm1, torch1), ratio(wasmN, torchN)];
    }
    rows.push(`| ${model} | ${fmt(wasm1)} | ${fmt(wasmN)} |${cpuCell} ${torchCells.join(' | ')} |`);
    console.log(rows[rows.length - 1]);
  }
  console.log(`\n${rows.join('\n')}`);
}

const part = process.argv[2] ?? 'throughput';
if (part === 'accuracy' || part === 'all') accuracy();
if (part === 'throughput' || part === 'all') await throughput();
if (part === 'one') {
  const [backend, model, threads, trainBatch, inferBatch] = process.argv.slice(3);
  console.log(JSON.stringify(await tfjsThroughput(backend, model, Number(threads), Number(trainBatch), Number(inferBatch))));
}
if (!['accuracy', 'throughput', 'all', 'one'].includes(part)) {
  console.error(`unknown part "${part}"; use accuracy, throughput or all`);
  process.exitCode = 2;
}
