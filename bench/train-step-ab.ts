/**
 * Training speed of this checkout against an earlier revision, side by side:
 * a git worktree of the revision, then rounds that alternate the two, each
 * measurement in a fresh process (wasm at 1 kernel thread unless --threads),
 * an Adam step at batch 64 on random 28x28x1 inputs, median of 7 timed steps
 * after 2 warm-up steps. Prints images/s per side (median over rounds) and
 * the ratio.
 *
 *   npx tsx bench/train-step-ab.ts --rev 8f43095 --models vgg-small,resnet-small,lenet5 --rounds 3
 */
import { execFileSync } from 'node:child_process';
import { existsSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function child(root: string, model: string): Promise<void> {
  const tf = await import('@tensorflow/tfjs');
  const { selectBackend } = await import(join(root, 'src/backend/backend.ts'));
  const { buildZooModel } = await import(join(root, 'src/models/zoo.ts'));
  await selectBackend('wasm');
  const net = buildZooModel(model, { inputShape: [28, 28, 1], numClasses: 10, seed: 0 });
  net.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
  const xs = tf.randomUniform([64, 28, 28, 1], 0, 1, 'float32', 1);
  const ys = tf.oneHot(tf.randomUniform([64], 0, 10, 'int32', 2), 10).toFloat();
  for (let i = 0; i < 2; i++) await net.trainOnBatch(xs, ys);
  const times: number[] = [];
  for (let i = 0; i < 7; i++) {
    const started = performance.now();
    await net.trainOnBatch(xs, ys);
    times.push(performance.now() - started);
  }
  console.log(JSON.stringify({ imagesPerSecond: 64000 / median(times) }));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rev: { type: 'string' },
      models: { type: 'string', default: 'vgg-small,resnet-small,lenet5' },
      rounds: { type: 'string', default: '3' },
      threads: { type: 'string', default: '1' },
    },
  });
  if (values.rev === undefined) throw new Error('give --rev REV (the revision to compare with)');
  const rev = execFileSync('git', ['rev-parse', '--short', values.rev], { encoding: 'utf8' }).trim();
  const worktree = join(tmpdir(), `autoprune-rev-${rev}`);
  if (!existsSync(worktree)) {
    execFileSync('git', ['worktree', 'add', '--detach', worktree, rev], { stdio: 'ignore' });
    symlinkSync(resolve('node_modules'), join(worktree, 'node_modules'));
  }
  const here = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() !== '' ? ' + changes' : '';
  const sides = [
    { name: rev, root: worktree },
    { name: `${here}${dirty}`, root: resolve('.') },
  ];
  const models = values.models!.split(',');
  const rounds = Number(values.rounds);
  console.log(
    `# training images/s, ${rev} against ${here}${dirty}: ${rounds} rounds alternating the two, each a fresh process, wasm with ${values.threads} kernel thread(s) (AUTOPRUNE_WASM_THREADS); Adam step at batch 64, median of 7 steps`,
  );
  const rates = new Map<string, number[]>();
  for (let round = 0; round < rounds; round++) {
    for (const model of models) {
      for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
        const out = execFileSync(process.execPath, ['--import', 'tsx', 'bench/train-step-ab.ts', 'child', side.root, model], {
          encoding: 'utf8',
          env: { ...process.env, AUTOPRUNE_WASM_THREADS: values.threads },
        });
        const rate = JSON.parse(out.trim().split('\n').pop()!).imagesPerSecond as number;
        const key = `${model}|${side.name}`;
        rates.set(key, [...(rates.get(key) ?? []), rate]);
        console.log(`round ${round + 1}: ${model} at ${side.name}: ${rate.toFixed(1)} img/s`);
      }
    }
  }
  console.log(`\n| model | ${sides[0].name} | ${sides[1].name} | ratio |\n|---|---|---|---|`);
  for (const model of models) {
    const [before, after] = sides.map((side) => median(rates.get(`${model}|${side.name}`)!));
    console.log(`| ${model} | ${before.toFixed(1)} | ${after.toFixed(1)} | ${(after / before).toFixed(2)}x |`);
  }
}

if (process.argv[2] === 'child') await child(process.argv[3], process.argv[4]);
else await main();
