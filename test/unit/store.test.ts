import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend/backend.js';
import { buildZooModel } from '../../src/models/zoo.js';
import { MemoryStore } from '../../src/run/store.js';

describe('the in-memory run store', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it('keeps copies (every checkpoint, for certification, and the final model) and frees them on dispose', async () => {
    const model = buildZooModel('lenet5', { inputShape: [28, 28, 1], numClasses: 10, seed: 0 });
    const before = tf.memory().numTensors;
    const store = new MemoryStore({});
    for (const name of ['checkpoints/group-0', 'checkpoints/group-1', 'model', 'model']) expect(await store.saveModel(model, name)).toBe(name);
    expect([...store.models.keys()]).toEqual(['checkpoints/group-0', 'checkpoints/group-1', 'model']);
    await expect(store.loadModel('checkpoints/group-2')).rejects.toThrow(/no model "checkpoints\/group-2"/);
    const copy = await store.loadModel('model');
    expect(copy).not.toBe(store.models.get('model'));
    const [original, loaded] = [model.getWeights()[0], copy.getWeights()[0]];
    expect(await loaded.data()).toEqual(await original.data());
    copy.dispose();
    store.dispose();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});
