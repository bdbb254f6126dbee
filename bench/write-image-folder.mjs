// A folder of labelled PNG files as a user would have one: Fashion-MNIST (Debian's copy) written out under
// train/ and test/, one subfolder per class. sharp writes them as RGB, so they load as 28x28x3.
//   node bench/write-image-folder.mjs OUT [TRAIN_COUNT] [TEST_COUNT]
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import sharp from 'sharp';

const [out, trainCount = '20000', testCount = '2000'] = process.argv.slice(2);
if (out === undefined) throw new Error('usage: node bench/write-image-folder.mjs OUT [TRAIN_COUNT] [TEST_COUNT]');
const root = '/usr/share/datasets/fashion-mnist';
const names = ['t-shirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'boot'];
async function write(split, prefix, count) {
  const images = gunzipSync(readFileSync(`${root}/${prefix}-images-idx3-ubyte.gz`)).subarray(16);
  const labels = gunzipSync(readFileSync(`${root}/${prefix}-labels-idx1-ubyte.gz`)).subarray(8);
  for (const name of names) mkdirSync(join(out, split, name), { recursive: true });
  for (let i = 0; i < count; i++) {
    const pixels = Buffer.from(images.subarray(i * 784, (i + 1) * 784));
    await sharp(pixels, { raw: { width: 28, height: 28, channels: 1 } })
      .png()
      .toFile(join(out, split, names[labels[i]], `${i}.png`));
  }
}
await write('train', 'train', Number(trainCount));
await write('test', 't10k', Number(testCount));
console.log(`wrote ${trainCount} train and ${testCount} test images under ${out}`);
