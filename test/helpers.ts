/** Shared fixtures: synthetic IDX data sets written to temporary folders. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import seedrandom from 'seedrandom';
import { encodeIdx } from '../src/data/idx.js';

export function tempDir(prefix = 'autoprune-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Writes the four MNIST-style IDX files with random images; labels cycle through 0..9. */
export function writeIdxDataset(dir: string, { train = 120, test = 40, size = 28, gzip = false, seed = 'idx' } = {}): string {
  const rng = seedrandom(seed);
  const write = (name: string, dims: number[], data: Uint8Array) => {
    const bytes = encodeIdx(dims, data);
    writeFileSync(join(dir, gzip ? `${name}.gz` : name), gzip ? gzipSync(bytes) : bytes);
  };
  const images = (n: number) => Uint8Array.from({ length: n * size * size }, () => Math.floor(rng() * 256));
  const labels = (n: number) => Uint8Array.from({ length: n }, (_, i) => i % 10);
  write('train-images-idx3-ubyte', [train, size, size], images(train));
  write('train-labels-idx1-ubyte', [train], labels(train));
  write('t10k-images-idx3-ubyte', [test, size, size], images(test));
  write('t10k-labels-idx1-ubyte', [test], labels(test));
  return dir;
}
