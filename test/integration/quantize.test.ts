import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend/backend.js';
import { cloneModel, loadModel, modelFilesBytes, saveModel, weightsDtypeOf } from '../../src/models/io.js';
import { roundTripWeights, toFloat16Bits } from '../../src/models/quantize.js';
import { buildZooModel } from '../../src/models/zoo.js';
import { tempDir } from '../helpers.js';

describe('quantized weights', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it('rounds float32 to the nearest half float, ties to even', () => {
    expect(toFloat16Bits(0)).toBe(0x0000);
    expect(toFloat16Bits(-0)).toBe(0x8000);
    expect(toFloat16Bits(1)).toBe(0x3c00);
    expect(toFloat16Bits(-2)).toBe(0xc000);
    expect(toFloat16Bits(65504)).toBe(0x7bff); // the largest half
    expect(toFloat16Bits(1e6)).toBe(0x7c00); // overflow: infinity
    expect(toFloat16Bits(2 ** -24)).toBe(0x0001); // the smallest subnormal
    expect(toFloat16Bits(2 ** -26)).toBe(0x0000); // below half of it: zero
    expect(toFloat16Bits(1 + 2 ** -11)).toBe(0x3c00); // halfway between 0x3c00 and 0x3c01: the even one
    expect(toFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // halfway between 0x3c01 and 0x3c02: the even one
    expect(toFloat16Bits(Number.NaN) & 0x7c00).toBe(0x7c00);
  });

  it.each([
    ['float16', 2],
    ['uint16', 2],
    ['uint8', 1],
  ] as const)('saves a model with %s weights that TF.js decodes to nearly the same values, in %i byte(s) per weight', async (dtype, width) => {
    const model = buildZooModel('lenet5', { inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
    const plain = await saveModel(model, tempDir());
    const quantized = await saveModel(model, tempDir(), dtype);
    expect(weightsDtypeOf(plain)).toBe('float32');
    expect(weightsDtypeOf(quantized)).toBe(dtype);
    const weightBytes = (path: string) => statSync(join(path, '..', 'weights.bin')).size;
    expect(weightBytes(quantized)).toBe((weightBytes(plain) / 4) * width);
    const reloaded = await loadModel(quantized);
    const before = model.getWeights();
    const after = reloaded.getWeights();
    before.forEach((w, i) => {
      const values = w.dataSync() as Float32Array;
      const decoded = after[i].dataSync() as Float32Array;
      const range = values.reduce((a, b) => Math.max(a, b), -Infinity) - values.reduce((a, b) => Math.min(a, b), Infinity);
      // uint: half a quantization step; float16: the relative precision of 11 bits.
      const allowed = (v: number) => (dtype === 'float16' ? Math.abs(v) * 2 ** -11 + 1e-7 : range / (dtype === 'uint8' ? 255 : 65535) / 2 + 1e-7);
      for (let k = 0; k < values.length; k += 97) expect(Math.abs(decoded[k] - values[k])).toBeLessThanOrEqual(allowed(values[k]));
    });
    // What the report measures (roundTripWeights) is exactly what TF.js reads back from the file.
    const measured = await cloneModel(model);
    roundTripWeights(measured, dtype);
    measured.getWeights().forEach((w, i) => expect(Array.from(w.dataSync())).toEqual(Array.from(after[i].dataSync())));
    measured.dispose();
    model.dispose();
    reloaded.dispose();
  });

  it('prunes a uint8 model into a uint8 model, reporting the sizes of the files on disk', async () => {
    const model = buildZooModel('lenet5', { inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
    const original = await saveModel(model, tempDir(), 'uint8');
    model.dispose();
    const runsDir = tempDir();
    const { status, stdout, stderr } = spawnSync(
      'node',
      [
        'bin/autoprune.mjs',
        '--no-tui',
        '--runs-dir',
        runsDir,
        'criterion',
        '--model',
        original,
        '--dataset',
        'mnist',
        '--validation-size',
        '500',
        '--criterion',
        'l1',
        '--ratio',
        '0.5',
        '--finetune-epochs',
        '0',
      ],
      { encoding: 'utf8' },
    );
    expect(status, stderr).toBe(0);
    const run = JSON.parse(readFileSync(join(runsDir, stdout.trim(), 'run.json'), 'utf8'));
    const pruned = join(runsDir, stdout.trim(), 'model', 'model.json');
    expect(weightsDtypeOf(pruned)).toBe('uint8');
    expect(run.result.report.original.bytesOnDisk).toBe(modelFilesBytes(original));
    expect(run.result.report.pruned.bytesOnDisk).toBe(modelFilesBytes(pruned));
    expect(modelFilesBytes(pruned)).toBeLessThan(modelFilesBytes(original));
  }, 120_000);
});
