/**
 * Saves an untrained zoo model as a model.json a run can take (`--model DIR/model.json`):
 * for timing and estimates at a size no shipped baseline has (its accuracy means nothing).
 *
 *   npx tsx bench/save-zoo-model.ts --model mobilenetv2-1.0 --size 224 --classes 10 --out /work/mnv2-224
 */
import { parseArgs } from 'node:util';
import { selectBackend } from '../src/backend/backend.js';
import { saveModel } from '../src/models/io.js';
import { buildZooModel } from '../src/models/zoo.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'mobilenetv2-1.0' },
    size: { type: 'string', default: '224' },
    channels: { type: 'string', default: '3' },
    classes: { type: 'string', default: '10' },
    seed: { type: 'string', default: '0' },
    out: { type: 'string' },
  },
});
if (values.out === undefined) throw new Error('give --out DIR');
await selectBackend('wasm');
const size = Number(values.size);
const model = buildZooModel(values.model!, {
  inputShape: [size, size, Number(values.channels)],
  numClasses: Number(values.classes),
  seed: Number(values.seed),
});
console.log(`${values.model} at ${size} px, ${model.countParams()} parameters: ${await saveModel(model, values.out)}`);
