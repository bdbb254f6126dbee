/**
 * A user's own images end to end: a folder of PNG files, a depthwise model
 * trained on it, pruned by the agent and by L1, and the results reloaded as
 * plain TF.js layers models.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import seedrandom from 'seedrandom';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { saveModel } from '../../src/models/io.js';
import { tempDir } from '../helpers.js';

const autoprune = (args: string[]) =>
  spawnSync('node', ['bin/autoprune.mjs', '--no-tui', '--threads', '1', ...args], { encoding: 'utf8', env: { ...process.env, XDG_CACHE_HOME: cacheHome } });
const record = (runsDir: string, id: string) => JSON.parse(readFileSync(join(runsDir, id, 'run.json'), 'utf8'));
const cacheHome = tempDir();

/** Noisy stripes: rows for "horizontal", columns for "vertical" (and diagonals for a third class). */
async function writeFolder(dir: string, classes: string[], counts: Record<string, number>): Promise<void> {
  const random = seedrandom('stripes');
  for (const [split, count] of Object.entries(counts)) {
    for (const name of classes) {
      mkdirSync(join(dir, split, name), { recursive: true });
      for (let i = 0; i < count; i++) {
        const size = 10;
        const pixels = Buffer.alloc(size * size * 3);
        for (let y = 0; y < size; y++) {
          for (let x = 0; x < size; x++) {
            const on = name === 'horizontal' ? y % 4 < 2 : name === 'vertical' ? x % 4 < 2 : (x + y) % 4 < 2;
            for (let c = 0; c < 3; c++) pixels[(y * size + x) * 3 + c] = Math.round((on ? 190 : 60) + (random() - 0.5) * 100);
          }
        }
        await sharp(pixels, { raw: { width: size, height: size, channels: 3 } })
          .png()
          .toFile(join(dir, split, name, `${i}.png`));
      }
    }
  }
}

describe('your own model and images', () => {
  const runsDir = tempDir();
  const images = tempDir();
  let trainRun: string;

  beforeAll(async () => {
    // 220 validation images: the agent's 10 reward images leave 105 each for the selection and the certification split.
    await writeFolder(images, ['horizontal', 'vertical'], { train: 60, val: 110, test: 10 });
    const train = autoprune(['--runs-dir', runsDir, 'train', '--model', 'mobilenet-small', '--data', images, '--image-size', '8x8', '--epochs', '2']);
    expect(train.stderr).toMatch(/decoded 360 images/);
    expect(train.stderr).toMatch(/8x8x3 images, 2 classes \(horizontal, vertical\), 120 train \/ 220 validation \/ 20 test/);
    expect(train.status).toBe(0);
    trainRun = train.stdout.trim();
    expect(record(runsDir, trainRun).result.classNames).toEqual(['horizontal', 'vertical']);
  }, 120_000);

  it('prunes a depthwise model trained on an image folder with the agent and with L1; both reload as TF.js models', async () => {
    const agent = autoprune([
      '--runs-dir',
      runsDir,
      'prune',
      '--model',
      trainRun,
      '--data',
      images,
      '--reward-samples',
      '10',
      // 105 images each to choose and to certify on: a bound of a few points is the finest they allow.
      '--tolerance',
      '10',
      '--max-iterations',
      '2',
      '--min-iterations',
      '1',
      '--finetune-images',
      '64',
      '--final-finetune-epochs',
      '1',
      '--set',
      'relaxSteps=1',
      '--set',
      'recovery.samples=16',
      '--set',
      'observation.criteriaSamples=16',
    ]);
    expect(agent.stderr).not.toMatch(/decoded/); // the folder was decoded once, by train
    expect(agent.status).toBe(0);
    const l1 = autoprune([
      '--runs-dir',
      runsDir,
      'criterion',
      '--model',
      trainRun,
      '--data',
      images,
      '--criterion',
      'l1',
      '--ratio',
      '0.5',
      '--finetune-images',
      '64',
    ]);
    expect(l1.status).toBe(0);
    const original = await tf.loadLayersModel(fileHandler(join(runsDir, trainRun, 'model')));
    for (const id of [agent.stdout.trim(), l1.stdout.trim()]) {
      const r = record(runsDir, id);
      expect(r.status).toBe('done');
      const pruned = await tf.loadLayersModel(fileHandler(join(runsDir, id, 'model')));
      expect(pruned.inputs[0].shape).toEqual([null, 8, 8, 3]);
      expect(pruned.countParams()).toBeLessThan(original.countParams());
      const scores = pruned.predict(tf.zeros([1, 8, 8, 3])) as tf.Tensor;
      expect(scores.shape).toEqual([1, 2]);
      tf.dispose([scores]);
      pruned.dispose();
    }
    expect(record(runsDir, agent.stdout.trim()).result.classNames).toEqual(['horizontal', 'vertical']);
    original.dispose();
  }, 600_000);

  it("refuses a validation split larger than the baseline's default one (its extra images were trained on); show names the folder", async () => {
    const flat = tempDir();
    await writeFolder(flat, ['horizontal', 'vertical'], { '.': 30 });
    const train = autoprune(['--runs-dir', runsDir, 'train', '--model', 'mobilenet-small', '--data', flat, '--image-size', '8x8', '--epochs', '1']);
    expect(train.status, train.stderr).toBe(0);
    // 60 images: 6 held out as test, then the default tenth of the other 54 as validation.
    expect(record(runsDir, train.stdout.trim()).config.validationSize).toBe(5);
    const runs = readdirSync(runsDir).length;
    const prune = autoprune([
      '--runs-dir',
      runsDir,
      'prune',
      '--model',
      train.stdout.trim(),
      '--data',
      flat,
      '--reward-samples',
      '10',
      '--validation-size',
      '300',
    ]);
    expect(prune.status).toBe(1);
    expect(prune.stderr).toMatch(/validationSize: 300 is more than the baseline's validation split \(5 images, from its train record\)/);
    expect(readdirSync(runsDir)).toHaveLength(runs);
    expect(autoprune(['--runs-dir', runsDir, 'show', train.stdout.trim()]).stdout).toContain(`model mobilenet-small, data ${flat}, seed 0`);
  }, 120_000);

  it("prunes a model of unknown input size ([?, ?, ?, 3]) at the images' size; inspect asks for a size", async () => {
    const input = tf.input({ shape: [null, null, 3] as unknown as number[] });
    let x = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', name: 'c1' }).apply(input) as tf.SymbolicTensor;
    x = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', name: 'c2' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
    const output = tf.layers.dense({ units: 2, activation: 'softmax', name: 'scores' }).apply(x) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: output });
    const path = await saveModel(model, tempDir());
    model.dispose();
    const bare = autoprune(['inspect', path]);
    expect(bare.stderr).toMatch(/the model's input is \?x\?x3: give --input-size HxW/);
    expect(bare.status).toBe(1);
    const macs = (size: string) => JSON.parse(autoprune(['inspect', path, '--input-size', size, '--json']).stdout).totals.macs as number;
    const conv = 8 * 27 + 8 * 72; // MACs per pixel of c1 and c2
    expect(macs('16x16') - 16 * 16 * conv).toBe(macs('32x32') - 32 * 32 * conv); // the rest (dense) does not scale
    const pruned = autoprune([
      '--runs-dir',
      runsDir,
      'criterion',
      '--model',
      path,
      '--data',
      images,
      '--criterion',
      'l1',
      '--ratio',
      '0.5',
      '--finetune-images',
      '32',
    ]);
    expect(pruned.stderr).toMatch(/the model's input is \?x\?x3: pruned and measured at the data's 10x10x3/);
    expect(pruned.status).toBe(0);
    const saved = JSON.parse(readFileSync(join(runsDir, pruned.stdout.trim(), 'model', 'model.json'), 'utf8'));
    expect(JSON.stringify(saved.modelTopology)).toContain('"batch_input_shape":[null,10,10,3]');
  }, 120_000);

  it('refuses a folder whose classes do not match the model, before any run folder exists', async () => {
    const three = tempDir();
    await writeFolder(three, ['diagonal', 'horizontal', 'vertical'], { train: 4 });
    const before = readdirSync(runsDir).length;
    const { status, stderr } = autoprune([
      '--runs-dir',
      runsDir,
      'criterion',
      '--model',
      trainRun,
      '--data',
      three,
      '--validation-size',
      '1',
      '--criterion',
      'l1',
      '--ratio',
      '0.5',
    ]);
    expect(stderr).toMatch(/the model scores 2 classes but .* has 3/);
    expect(status).toBe(1);
    expect(readdirSync(runsDir)).toHaveLength(before);
  }, 60_000);
});

/** tf.loadLayersModel's IOHandler for a model folder on disk (tfjs-node's file:// is not installed). */
function fileHandler(dir: string): tf.io.IOHandler {
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  const weights = readdirSync(dir)
    .filter((f) => f.endsWith('.bin'))
    .sort()
    .map((f) => readFileSync(join(dir, f)));
  const data = Buffer.concat(weights);
  return tf.io.fromMemory({
    modelTopology: json.modelTopology,
    weightSpecs: json.weightsManifest.flatMap((m: { weights: tf.io.WeightsManifestEntry[] }) => m.weights),
    weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength),
  });
}
