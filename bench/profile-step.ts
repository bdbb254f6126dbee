/**
 * Where a training step's time goes, kernel by kernel, and which kernels a
 * second wasm thread speeds up. Each model is profiled in a fresh process at
 * 1 and at 2 kernel threads (AUTOPRUNE_WASM_THREADS): an Adam step at batch
 * 64 on random inputs, 2 warm-up steps, then `tf.profile` over 5 steps (on
 * wasm a kernel's time is its wall time: the backend runs synchronously).
 * The step's plain wall time (5 steps, not profiled) comes first. Per kernel: its share of the profiled step at 2 threads, its ms per step at 1 and 2
 * threads and the ratio; "outside kernels" is the step's wall time minus the
 * kernels' (the engine, tape and optimizer bookkeeping in JS). A kernel whose
 * ratio stays near 1.0 runs on one thread.
 *
 *   npx tsx bench/profile-step.ts --models lenet5,vgg-small,resnet-small,mobilenet-small,mobilenetv2-0.35@96
 *
 * A model name may carry its input size after @ (default 28x28x1; 3 channels when a size is given).
 */
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';

interface Profile {
  /** Wall ms per step, not profiled. */
  plainMs: number;
  /** Wall ms per step while profiled. */
  stepMs: number;
  /** Kernel name -> ms per step (summed over its calls). */
  kernels: Record<string, number>;
  /** Kernel name -> calls per step. */
  calls: Record<string, number>;
}

const STEPS = 5;

function inputShapeOf(spec: string): { model: string; inputShape: [number, number, number] } {
  const [model, size] = spec.split('@');
  return { model, inputShape: size === undefined ? [28, 28, 1] : [Number(size), Number(size), 3] };
}

async function child(spec: string): Promise<void> {
  const tf = await import('@tensorflow/tfjs');
  const { selectBackend } = await import('../src/backend/backend.js');
  const { buildZooModel } = await import('../src/models/zoo.js');
  await selectBackend('wasm');
  const { model, inputShape } = inputShapeOf(spec);
  const net = buildZooModel(model, { inputShape, numClasses: 10, seed: 0 });
  net.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
  const xs = tf.randomUniform([64, ...inputShape], 0, 1, 'float32', 1);
  const ys = tf.oneHot(tf.randomUniform([64], 0, 10, 'int32', 2), 10).toFloat();
  for (let i = 0; i < 2; i++) await net.trainOnBatch(xs, ys);
  const kernels: Record<string, number> = {};
  const calls: Record<string, number> = {};
  const plainStarted = performance.now();
  for (let i = 0; i < STEPS; i++) await net.trainOnBatch(xs, ys);
  const plainMs = (performance.now() - plainStarted) / STEPS;
  const started = performance.now();
  const info = await tf.profile(async () => {
    for (let i = 0; i < STEPS; i++) await net.trainOnBatch(xs, ys);
    return tf.scalar(0);
  });
  const stepMs = (performance.now() - started) / STEPS;
  // The list also holds the scopes around kernels (ops, custom gradients): only registered kernels are counted.
  for (const kernel of info.kernels.filter((k) => tf.getKernel(k.name, 'wasm') !== undefined)) {
    kernels[kernel.name] = (kernels[kernel.name] ?? 0) + (kernel.kernelTimeMs as number) / STEPS;
    calls[kernel.name] = (calls[kernel.name] ?? 0) + 1 / STEPS;
  }
  console.log(JSON.stringify({ plainMs, stepMs, kernels, calls } satisfies Profile));
}

function profileIn(spec: string, threads: number): Profile {
  const out = execFileSync(process.execPath, ['--import', 'tsx', 'bench/profile-step.ts', 'child', spec], {
    encoding: 'utf8',
    env: { ...process.env, AUTOPRUNE_WASM_THREADS: String(threads) },
    maxBuffer: 1 << 26,
  });
  return JSON.parse(out.trim().split('\n').pop()!) as Profile;
}

function main(): void {
  const { values } = parseArgs({ options: { models: { type: 'string', default: 'lenet5,vgg-small,resnet-small,mobilenet-small,mobilenetv2-0.35@96' } } });
  console.log(`# training step profile: Adam at batch 64, random inputs, tf.profile over ${STEPS} steps after 2 warm-up steps, wasm, each run a fresh process`);
  for (const spec of values.models!.split(',')) {
    const [one, two] = [profileIn(spec, 1), profileIn(spec, 2)];
    const outside = (p: Profile) => p.stepMs - Object.values(p.kernels).reduce((a, b) => a + b, 0);
    const names = Object.keys(two.kernels).sort((a, b) => two.kernels[b] - two.kernels[a]);
    const rows = [
      ...names.map((name) => ({ name, calls: two.calls[name], one: one.kernels[name] ?? 0, two: two.kernels[name] })),
      { name: '(outside kernels)', calls: 0, one: outside(one), two: outside(two) },
    ];
    console.log(
      `\n## ${spec}: step ${one.plainMs.toFixed(1)} ms at 1 thread, ${two.plainMs.toFixed(1)} ms at 2 (${(one.plainMs / two.plainMs).toFixed(2)}x); profiled ${one.stepMs.toFixed(1)} and ${two.stepMs.toFixed(1)} ms\n`,
    );
    console.log('| kernel | calls per step | share at 2 threads | ms at 1 thread | ms at 2 threads | 1 -> 2 threads |\n|---|---|---|---|---|---|');
    for (const row of rows) {
      if (row.two / two.stepMs < 0.005 && row.name !== '(outside kernels)') continue;
      console.log(
        `| ${row.name} | ${row.calls === 0 ? '' : Math.round(row.calls)} | ${((100 * row.two) / two.stepMs).toFixed(1)}% | ${row.one.toFixed(1)} | ${row.two.toFixed(1)} | ${(row.one / row.two).toFixed(2)}x |`,
      );
    }
    const small = rows.filter((r) => r.two / two.stepMs < 0.005 && r.name !== '(outside kernels)');
    if (small.length > 0)
      console.log(`| ${small.length} kernels under 0.5% each | | ${((100 * small.reduce((a, r) => a + r.two, 0)) / two.stepMs).toFixed(1)}% | | | |`);
  }
}

if (process.argv[2] === 'child') await child(process.argv[3]);
else main();
