import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend/backend.js';
import { trainedModelAndData } from '../../src/run/baseline-source.js';
import { ProgressLog } from '../../src/cli/log.js';
import { FASHION_MNIST_DEBIAN_DIR, loadDataset } from '../../src/data/datasets.js';
import { loadModel } from '../../src/models/io.js';
import { findBaseline } from '../../src/run/baselines.js';
import { evaluateAccuracy } from '../../src/train/train.js';
import { resizeSets } from '../../src/data/resize.js';
import { tempDir } from '../helpers.js';

describe('shipped baseline', () => {
  // Fashion-MNIST is an optional Debian package (README); CI installs it, so there the test always runs.
  const fashionMnist = existsSync(FASHION_MNIST_DEBIAN_DIR) || process.env.CI !== undefined;
  it.each([
    { model: 'lenet5', dataset: 'mnist' as const, atLeast: 0.99 },
    ...(fashionMnist
      ? [
          { model: 'resnet-small', dataset: 'fashion-mnist' as const, atLeast: 0.9 },
          { model: 'vgg-small', dataset: 'fashion-mnist' as const, atLeast: 0.91 },
          { model: 'mobilenet-small', dataset: 'fashion-mnist' as const, atLeast: 0.88 },
        ]
      : []),
  ])(
    '$model / $dataset was trained by autoprune train, is used when runs/ has none, and has the accuracy its record claims',
    async ({ model: name, dataset, atLeast }) => {
      await selectBackend('wasm');
      const source = findBaseline(name, dataset, tempDir());
      expect(source.kind).toBe('shipped');
      const path = (source as { path: string }).path;
      const record = JSON.parse(readFileSync(join(dirname(path), 'run.json'), 'utf8'));
      expect(record).toMatchObject({ command: 'train', status: 'done', backend: 'wasm', config: { model: name, dataset, seed: 0 } });
      expect(record.result.testAccuracy).toBeGreaterThanOrEqual(atLeast);
      const model = await loadModel(path);
      const data = loadDataset(dataset, { seed: 0 });
      expect(await evaluateAccuracy(model, data.test, data.inputShape)).toBe(record.result.testAccuracy);
      model.dispose();
    },
  );

  // Its whole test split at 96 px takes minutes to resize on a fresh machine: its record is checked, and 300 test images resized here.
  it.runIf(fashionMnist)(
    'mobilenetv2-0.35 / fashion-mnist at 96x96 RGB was trained by autoprune train and classifies resized test images as its record claims',
    async () => {
      await selectBackend('wasm');
      const source = findBaseline('mobilenetv2-0.35', 'fashion-mnist', tempDir());
      expect(source.kind).toBe('shipped');
      const path = (source as { path: string }).path;
      const record = JSON.parse(readFileSync(join(dirname(path), 'run.json'), 'utf8'));
      expect(record).toMatchObject({
        command: 'train',
        status: 'done',
        backend: 'wasm',
        config: { model: 'mobilenetv2-0.35', dataset: 'fashion-mnist', imageSize: [96, 96], channels: 3, seed: 0, validationSize: 20000 },
      });
      expect(record.result.trainSeconds).toBeLessThan(45 * 60);
      const model = await loadModel(path);
      expect(model.inputs[0].shape).toEqual([null, 96, 96, 3]);
      const { test } = loadDataset('fashion-mnist', { seed: 0, testLimit: 300 });
      const [resized] = await resizeSets([{ pixels: test.images as Uint8Array, labels: test.labels, count: test.count }], [28, 28, 1], [96, 96, 3], {
        cacheDir: false,
        sourceFiles: [],
      });
      const accuracy = await evaluateAccuracy(model, { images: resized.pixels, labels: resized.labels, count: resized.count }, [96, 96, 3]);
      // 300 of its 10,000 test images: within 0.08 of the record's accuracy on all of them.
      expect(Math.abs(accuracy - record.result.testAccuracy)).toBeLessThan(0.08);
      model.dispose();
    },
  );

  it('leaves a model with no shipped baseline to be trained', () => {
    expect(findBaseline('lenet5', 'fashion-mnist', tempDir()).kind).toBe('none');
  });

  it("keeps the baseline's train / validation split when pruning at another seed", async () => {
    const backend = await selectBackend('wasm');
    const written: string[] = [];
    const log = new ProgressLog({ write: (text: string) => written.push(text) } as unknown as NodeJS.WriteStream, false);
    const options = { model: 'lenet5', dataset: 'mnist', seed: 2, runsDir: tempDir(), trainEpochs: 1 };
    const loaded = await trainedModelAndData(options, backend, log);
    expect(loaded.splitSeed).toBe(0);
    expect(Array.from(loaded.data.validation.labels)).toEqual(Array.from(loadDataset('mnist', { seed: 0 }).validation.labels));
    expect(written.join('')).toContain("validation split: seed 0 (the baseline's)");
    loaded.model.dispose();
    const chosen = await trainedModelAndData({ ...options, splitSeed: 3 }, backend, log);
    expect(chosen.splitSeed).toBe(3);
    expect(Array.from(chosen.data.validation.labels)).toEqual(Array.from(loadDataset('mnist', { seed: 3 }).validation.labels));
    chosen.model.dispose();
  });
});
