/**
 * Decoded images kept on disk between runs (a folder decoded once, a data
 * set resized once): one file of raw bytes per key, written atomically. A
 * cache that cannot be read or written only costs a decode.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export function defaultCacheDir(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'autoprune', 'images');
}

/** The cache file of `parts` (what the bytes depend on), under `cacheDir`. */
export function cacheFile(cacheDir: string, parts: unknown): string {
  return join(cacheDir, `${createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32)}.u8`);
}

/** Node's readFileSync and writeFileSync refuse more than 2 GiB; the cache reads and writes in pieces of this size. */
const PIECE = 1 << 30;

/** The cached bytes of `file` when it holds exactly `length` bytes. */
export function readCached(file: string, length: number): Uint8Array | undefined {
  if (!existsSync(file) || statSync(file).size !== length) return undefined;
  const bytes = new Uint8Array(length);
  const fd = openSync(file, 'r');
  try {
    for (let at = 0; at < length; ) at += readSync(fd, bytes, at, Math.min(PIECE, length - at), at);
  } finally {
    closeSync(fd);
  }
  return bytes;
}

/** Writes `bytes` to `file` through a temporary file; false when it could not. */
export function writeCached(file: string, bytes: Uint8Array): boolean {
  const temporary = `${file}.tmp-${process.pid}`;
  try {
    mkdirSync(join(file, '..'), { recursive: true });
    const fd = openSync(temporary, 'w');
    try {
      for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, Math.min(PIECE, bytes.length - at));
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, file);
    return true;
  } catch {
    try {
      rmSync(temporary, { force: true });
    } catch {
      // its folder is not one (a file in the cache's place): there is nothing to remove
    }
    return false;
  }
}
