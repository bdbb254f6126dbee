import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend/backend.js';
import { buildZooModel } from '../../src/models/zoo.js';
import { checkTrainingBatch, inferenceBatch, largestTrainingBatch } from '../../src/train/heap-fit.js';

describe('batches that fit the wasm heap', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it('refuses a training batch MobileNetV2 at 224 px cannot hold, naming the field and the largest that fits, and cuts its inference batch', () => {
    const model = buildZooModel('mobilenetv2', { inputShape: [224, 224, 3], numClasses: 10, seed: 0 });
    // Measured: a training step at 224 px grows the heap by 217-270 MB per image; batch 11 trains (test/e2e/cli.test.ts).
    const largest = largestTrainingBatch(model);
    expect(largest).toBeGreaterThanOrEqual(8);
    expect(largest).toBeLessThanOrEqual(14);
    expect(() => checkTrainingBatch(model, 64, 'finetune.batchSize')).toThrow(
      new RegExp(
        `^finetune\\.batchSize: a training batch of 64 at 224x224x3 needs about [\\d.]+ GiB of the wasm backend's heap, which holds 4 GiB; give finetune\\.batchSize at most ${largest}$`,
      ),
    );
    expect(() => checkTrainingBatch(model, largest, 'finetune.batchSize')).not.toThrow();
    // Inference at about 9 MB per image: 500 does not fit, a few hundred do.
    const batch = inferenceBatch(model, 500);
    expect(batch).toBeGreaterThanOrEqual(150);
    expect(batch).toBeLessThan(500);
    expect(inferenceBatch(model, 32)).toBe(32);
    model.dispose();
  });

  it('leaves a small model alone, and every backend without the cap', async () => {
    const lenet = buildZooModel('lenet5', { inputShape: [28, 28, 1], numClasses: 10, seed: 0 });
    expect(largestTrainingBatch(lenet)).toBeGreaterThan(4096);
    expect(inferenceBatch(lenet, 4096)).toBe(4096);
    const big = buildZooModel('mobilenetv2', { inputShape: [224, 224, 3], numClasses: 10, seed: 0 });
    await tf.setBackend('cpu');
    expect(largestTrainingBatch(big)).toBe(Number.POSITIVE_INFINITY);
    expect(inferenceBatch(big, 500)).toBe(500);
    await tf.setBackend('wasm');
    tf.dispose([lenet, big].flatMap((m) => m.weights.map((w) => w.read())));
  });
});
