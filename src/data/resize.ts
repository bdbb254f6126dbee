/**
 * A data set's images at another size or channel count than its files hold
 * (Fashion-MNIST's 28x28 gray as 96x96 RGB, for a MobileNetV2): each image
 * resized with sharp (stretched to the size, gray copied to RGB), kept as
 * bytes, and cached on disk so that the next run reads them at once.
 */
import { statSync } from 'node:fs';
import { cacheFile, defaultCacheDir, readCached, writeCached } from './byte-cache.js';
import type { LabelledPixels } from './datasets.js';
import { DataError } from '../errors.js';

/** Images resized at once (sharp works on libuv's thread pool). */
const RESIZE_CONCURRENCY = 8;

export interface ResizeOptions {
  /** Folder of the cache; false: none. Default: the decoded-image cache. */
  cacheDir?: string | false;
  /** The files the images came from: their paths, sizes and times key the cache. */
  sourceFiles: string[];
  /** Called as images are resized (not when they come from the cache). */
  onProgress?: (done: number, total: number) => void;
  /** Called after resized images were written to the cache (true) or could not be (false). */
  onCacheWrite?: (written: boolean, file: string) => void;
}

/** The images of `sets` (each `from` in shape) at shape `to`, in the same order; labels unchanged. */
export async function resizeSets(
  sets: LabelledPixels[],
  from: [number, number, number],
  to: [number, number, number],
  options: ResizeOptions,
): Promise<LabelledPixels[]> {
  if (to[2] !== 1 && to[2] !== 3) throw new DataError(`images can be resized to 1 (gray) or 3 (RGB) channels, not ${to[2]}`);
  const [perFrom, perTo] = [from, to].map(([h, w, c]) => h * w * c);
  const total = sets.reduce((sum, s) => sum + s.count, 0);
  const cacheDir = options.cacheDir === undefined ? defaultCacheDir() : options.cacheDir;
  const files = options.sourceFiles.map((f) => {
    const { size, mtimeMs } = statSync(f);
    return [f, size, mtimeMs];
  });
  const cache = cacheDir === false ? undefined : cacheFile(cacheDir, { version: 1, resized: files, counts: sets.map((s) => s.count), from, to });
  let resized = cache && readCached(cache, total * perTo);
  if (!resized) {
    resized = await resizeAll(sets, from, to, perFrom, perTo, total, options.onProgress);
    if (cache !== undefined) {
      const written = writeCached(cache, resized);
      options.onCacheWrite?.(written, cache);
    }
  }
  let offset = 0;
  return sets.map((set) => {
    const part = { pixels: resized.subarray(offset * perTo, (offset + set.count) * perTo), labels: set.labels, count: set.count };
    offset += set.count;
    return part;
  });
}

async function resizeAll(
  sets: LabelledPixels[],
  [height, width, channels]: [number, number, number],
  to: [number, number, number],
  perFrom: number,
  perTo: number,
  total: number,
  onProgress?: (done: number, total: number) => void,
): Promise<Uint8Array> {
  const sharp = (await import('sharp')).default;
  const out = new Uint8Array(total * perTo);
  const images = sets.flatMap((set) => Array.from({ length: set.count }, (_, i) => set.pixels.subarray(i * perFrom, (i + 1) * perFrom)));
  for (let start = 0; start < images.length; start += RESIZE_CONCURRENCY) {
    const chunk = images.slice(start, start + RESIZE_CONCURRENCY);
    const done = await Promise.all(
      chunk.map((pixels) =>
        sharp(pixels, { raw: { width, height, channels: channels as 1 | 3 } })
          .resize(to[1], to[0], { fit: 'fill' })
          .toColourspace(to[2] === 1 ? 'b-w' : 'srgb')
          .raw({ depth: 'uchar' })
          .toBuffer({ resolveWithObject: true }),
      ),
    );
    done.forEach(({ data, info }, i) => {
      if (data.length !== perTo) throw new DataError(`resizing to ${to.join('x')} gave ${info.width}x${info.height}x${info.channels}`);
      out.set(data, (start + i) * perTo);
    });
    onProgress?.(start + chunk.length, total);
  }
  return out;
}
