/**
 * Peak resident memory of loading a folder of photos: a folder of N
 * synthetic JPEGs (10 classes, noise over a class colour) at SIZE x SIZE RGB
 * is written once, then loaded by `loadData` in a fresh process (decoded and
 * cached first, so that the load measured reads the cache, as every run after
 * the first does), which prints its peak RSS. `--root` loads with the code of
 * another checkout (a git worktree of an earlier commit) for a before / after.
 *
 *   npx tsx bench/memory-load.ts --images 20000 --size 224
 *   npx tsx bench/memory-load.ts --images 2000 --size 224 --root /work/before
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '20000' },
    size: { type: 'string', default: '224' },
    root: { type: 'string', default: '.' },
    dir: { type: 'string', default: '/tmp/autoprune-memory-load' },
  },
});
const [count, size] = [Number(values.images), Number(values.size)];
const folder = join(values.dir!, `${count}-${size}`);
const cacheDir = join(values.dir!, 'cache');

if (!existsSync(join(folder, 'done'))) {
  console.error(`writing ${count} JPEGs of ${size}x${size} to ${folder}`);
  for (let i = 0; i < count; i++) {
    const label = i % 10;
    const dir = join(folder, `class${label}`);
    mkdirSync(dir, { recursive: true });
    const pixels = Buffer.alloc(size * size * 3);
    for (let p = 0; p < pixels.length; p++) pixels[p] = (25 * label + ((p * 7919 + i * 104729) % 97)) % 256;
    await sharp(pixels, { raw: { width: size, height: size, channels: 3 } })
      .jpeg({ quality: 80 })
      .toFile(join(dir, `${i}.jpg`));
  }
  writeFileSync(join(folder, 'done'), '');
}

const child = (label: string) => {
  const script = `
    const { loadData } = await import(${JSON.stringify(resolve(values.root!, 'src/data/load.ts'))});
    const started = performance.now();
    const data = await loadData({ dataset: 'mnist', data: ${JSON.stringify(folder)} }, { inputShape: [${size}, ${size}, 3], cacheDir: ${JSON.stringify(cacheDir)} });
    console.log(JSON.stringify({ images: data.train.count + data.validation.count + data.test.count, seconds: (performance.now() - started) / 1000, peakRss: process.resourceUsage().maxRSS * 1024, bytesPerImage: data.train.images.BYTES_PER_ELEMENT * ${size * size * 3} }));`;
  const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    cwd: resolve(values.root!),
    maxBuffer: 1 << 24,
  });
  if (run.status !== 0) throw new Error(`${label}: ${run.stderr}`);
  return JSON.parse(run.stdout.trim().split('\n').pop()!) as { images: number; seconds: number; peakRss: number; bytesPerImage: number };
};

child('decode'); // fills the cache
const measured = child('load');
const gib = (b: number) => (b / 1024 ** 3).toFixed(2);
console.log(
  `${measured.images} images of ${size}x${size}x3 from the cache with the code at ${resolve(values.root!)}: peak RSS ${gib(measured.peakRss)} GiB, ` +
    `${measured.bytesPerImage} bytes per image held (${gib(measured.bytesPerImage * measured.images)} GiB of images), ${measured.seconds.toFixed(1)} s`,
);
