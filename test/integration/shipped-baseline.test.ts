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
