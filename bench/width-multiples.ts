/**
 * Do some channel counts run faster on a backend (XNNPACK's SIMD kernels
 * work on 4 or 8 channels at a time)? Times a 3x3 convolution (14x14, 32
 * input channels) and a dense layer (512 inputs) at every output width from
 * `--from` to `--to`, alternated in rounds, on each target, and prints each
 * width's time and whether it is a multiple of 4 or 8. If multiples were
 * faster than narrower widths, rounding kept counts up to them would buy
 * time for free.
 *
 *   npx tsx bench/width-multiples.ts --targets this,chromium-wasm --from 24 --to 40
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/backend.js';
import { type LatencyTargetName, openTarget } from '../src/latency/target.js';

const { values } = parseArgs({
  options: {
    targets: { type: 'string', default: 'this,chromium-wasm' },
    from: { type: 'string', default: '24' },
    to: { type: 'string', default: '40' },
    batch: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '7' },
  },
});
await selectBackend('wasm');
const widths = Array.from({ length: Number(values.to) - Number(values.from) + 1 }, (_, i) => Number(values.from) + i);
const layers = {
  'conv 3x3, 14x14x32 ->': (w: number) =>
    tf.sequential({ layers: [tf.layers.conv2d({ inputShape: [14, 14, 32], filters: w, kernelSize: 3, padding: 'same' })] }),
  'dense 512 ->': (w: number) => tf.sequential({ layers: [tf.layers.dense({ inputShape: [512], units: w })] }),
};
const batch = Number(values.batch);
console.log(`# time per call (ms, fastest of ${values.rounds} alternated rounds) at batch ${batch}; ${new Date().toISOString()}`);
for (const targetName of values.targets!.split(',') as LatencyTargetName[]) {
  const target = await openTarget(targetName);
  for (const [label, build] of Object.entries(layers)) {
    const models = widths.map(build);
    const samples = await target.time(models, batch, { rounds: Number(values.rounds) });
    const ms = samples.map((s) => Math.min(...s));
    console.log(`\n${target.description}, ${label} width:`);
    console.log(`| width | ${widths.join(' | ')} |\n|---|${widths.map(() => '---').join('|')}|`);
    console.log(`| ms | ${ms.map((t, i) => `${t.toFixed(3)}${widths[i] % 8 === 0 ? ' (x8)' : widths[i] % 4 === 0 ? ' (x4)' : ''}`).join(' | ')} |`);
    // A width is worth rounding up to when it is faster than some narrower width.
    const faster = widths.filter((_, i) => ms.slice(0, i).some((t) => t > ms[i] * 1.05));
    console.log(`widths at least 5% faster than a narrower one: ${faster.length > 0 ? faster.join(', ') : 'none'}`);
    for (const m of models) m.dispose();
  }
  await target.close();
}
