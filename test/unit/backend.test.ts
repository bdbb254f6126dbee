import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend/backend.js';
import { BackendError } from '../../src/errors.js';

describe('backend selection', () => {
  it('skips the native backends that are not installed and picks wasm', async () => {
    const choice = await selectBackend();
    expect(choice.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(choice.skipped.map((s) => s.name)).toEqual(['tensorflow-gpu', 'tensorflow']);
    expect(choice.skipped[0].why).toMatch(/@tensorflow\/tfjs-node-gpu is not installed/);
  });

  it('forces a backend by name', async () => {
    expect((await selectBackend('cpu')).name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    await selectBackend('wasm');
  });

  it('rejects an unknown or uninstalled backend with the reason and the fix', async () => {
    await expect(selectBackend('webgpu')).rejects.toThrow(/unknown backend "webgpu"; choose one of tensorflow-gpu, tensorflow, wasm, cpu/);
    await expect(selectBackend('tensorflow')).rejects.toThrow(BackendError);
    await expect(selectBackend('tensorflow')).rejects.toThrow(
      /--backend tensorflow: @tensorflow\/tfjs-node is not installed \(install it with: npm install @tensorflow\/tfjs-node\)/,
    );
  });
});
