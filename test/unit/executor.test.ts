import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend/backend.js';
import { buildZooModel } from '../../src/models/zoo.js';
import { execute } from '../../src/prune/executor.js';
import { buildGraph } from '../../src/prune/graph.js';

describe('running a model layer by layer', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it('with release, frees each output once its readers ran: the same output and captures, a few layers alive instead of the whole network', async () => {
    // Residual blocks: an Add reads an output that other layers read too.
    const model = buildZooModel('mobilenetv2', { inputShape: [32, 32, 3], numClasses: 10, seed: 0 });
    const graph = buildGraph(model);
    const x = tf.randomUniform([2, 32, 32, 3], 0, 1, 'float32', 7);
    const capture = [graph.order[5], graph.order[20]];
    const run = (release: boolean) =>
      tf.tidy(() => {
        const before = tf.memory().numTensors;
        const { output, captured } = execute(graph, x, { capture, release });
        const alive = tf.memory().numTensors - before;
        return { alive, values: [output, ...capture.map((name) => captured.get(name)!)].map((t) => Array.from(t.dataSync())) };
      });
    const kept = run(false);
    const released = run(true);
    expect(released.values).toEqual(kept.values);
    expect(kept.alive).toBeGreaterThan(100);
    expect(released.alive).toBeLessThan(kept.alive / 4);
    expect(x.isDisposed).toBe(false);
    tf.dispose([x, ...model.weights.map((w) => w.read())]);
  });
});
