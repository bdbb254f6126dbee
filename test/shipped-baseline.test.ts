import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../src/backend/backend.js';
import { loadDataset } from '../src/data/datasets.js';
import { loadModel } from '../src/models/io.js';
import { findBaseline } from '../src/runs/baselines.js';
import { evaluateAccuracy } from '../src/train/train.js';
import { tempDir } from './helpers.js';

describe('shipped baseline', () => {
  it('is a LeNet-5 trained by autoprune train, used when runs/ has none, with the accuracy its record claims', async () => {
    await selectBackend('wasm');
    const source = findBaseline('lenet5', 'mnist', tempDir());
    expect(source.kind).toBe('shipped');
    const path = (source as { path: string }).path;
    const record = JSON.parse(readFileSync(join(dirname(path), 'run.json'), 'utf8'));
    expect(record).toMatchObject({ command: 'train', status: 'done', backend: 'wasm', config: { model: 'lenet5', dataset: 'mnist', seed: 0 } });
    expect(record.result.testAccuracy).toBeGreaterThanOrEqual(0.99);
    const model = await loadModel(path);
    const data = loadDataset('mnist', { seed: 0 });
    expect(await evaluateAccuracy(model, data.test, data.inputShape)).toBe(record.result.testAccuracy);
    model.dispose();
    expect(findBaseline('vgg-small', 'fashion-mnist', tempDir()).kind).toBe('none');
  });
});
