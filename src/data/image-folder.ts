/**
 * Labelled images from a folder, in the usual layout: one subfolder per
 * class (their sorted names give the labels, as Keras'
 * image_dataset_from_directory does), optionally under train/, val/ (or
 * validation/) and test/. PNG and JPEG files are decoded with sharp, turned
 * upright by their EXIF orientation, resized (stretched) to the model's input
 * size and made gray or RGB as the model expects. Other files are skipped.
 *
 * Decoding a large folder takes a while, so the decoded bytes are cached,
 * keyed by every file's path, size and modification time and the target shape.
 */
import { createHash } from 'node:crypto';
import { type Dirent, existsSync, readdirSync, statSync } from 'node:fs';
import { defaultCacheDir, readCached, writeCached } from './byte-cache.js';
import { basename, extname, join, relative } from 'node:path';
import { carveSplits, type Dataset, type LabelledPixels, type LoadOptions } from './datasets.js';
import { DataError } from '../errors.js';

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg']);
const SPLIT_FOLDERS = { train: ['train'], validation: ['val', 'validation'], test: ['test'] } as const;
/** Images decoded at once (sharp works on libuv's thread pool). */
const DECODE_CONCURRENCY = 8;

export interface ImageFolderOptions extends LoadOptions {
  /** Height, width and channels (1 or 3) to decode to (the model's input); default: imageSize and channels. */
  inputShape?: [number, number, number];
  /** Height and width when there is no inputShape; default: the first training image's. */
  imageSize?: [number, number];
  /** Channels when there is no inputShape; default: 1 if the first training image is gray, else 3. */
  channels?: number;
  /** Folder of the decoded-image cache; false: no cache. Default: $XDG_CACHE_HOME/autoprune/images or ~/.cache/autoprune/images. */
  cacheDir?: string | false;
  /** Called as images are decoded (not when they come from the cache). */
  onProgress?: (decoded: number, total: number) => void;
  /** Called after decoded images were written to the cache (true) or could not be (false). */
  onCacheWrite?: (written: boolean, file: string) => void;
}

interface LabelledFiles {
  dir: string;
  classNames: string[];
  files: string[];
  labels: number[];
}

/** The entries of `dir`; an unreadable folder is a DataError naming it. */
function readFolder(dir: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    throw new DataError(`${dir}: cannot read the folder (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** Folders in `dir` (symbolic links to folders too), hidden ones left out. */
function subfolders(dir: string): string[] {
  return readFolder(dir)
    .filter(
      (e) => !e.name.startsWith('.') && (e.isDirectory() || (e.isSymbolicLink() && existsSync(join(dir, e.name)) && statSync(join(dir, e.name)).isDirectory())),
    )
    .map((e) => e.name)
    .sort();
}

/** The class subfolders of `dir` and their images. */
function scanClasses(dir: string): LabelledFiles {
  const classNames = subfolders(dir);
  if (classNames.length === 0)
    throw new DataError(`${dir}: no class folders (expected one subfolder of images per class, optionally under train/, val/ and test/)`);
  if (classNames.length === 1) throw new DataError(`${dir}: only one class folder (${classNames[0]}); a classifier needs at least two`);
  if (classNames.length > 256) throw new DataError(`${dir}: ${classNames.length} class folders; autoprune handles at most 256 classes`);
  const files: string[] = [];
  const labels: number[] = [];
  classNames.forEach((name, label) => {
    const images = readFolder(join(dir, name))
      .map((e) => e.name)
      .filter((f) => !f.startsWith('.') && IMAGE_EXTENSIONS.has(extname(f).toLowerCase()))
      .sort();
    if (images.length === 0) throw new DataError(`${join(dir, name)}: no PNG or JPEG images in this class folder`);
    for (const f of images) {
      files.push(join(dir, name, f));
      labels.push(label);
    }
  });
  return { dir, classNames, files, labels };
}

/** The splits the folder has: train (always), and validation and test where their folders exist. */
function scanFolder(dir: string): { train: LabelledFiles; validation?: LabelledFiles; test?: LabelledFiles } {
  if (!existsSync(dir)) throw new DataError(`${dir}: the data folder does not exist`);
  if (!statSync(dir).isDirectory()) throw new DataError(`${dir}: not a folder (give a folder of class subfolders, or of train/ val/ test/)`);
  const names = subfolders(dir);
  const find = (split: readonly string[]) => names.find((n) => split.includes(n));
  if (find(SPLIT_FOLDERS.train) === undefined) {
    if (find([...SPLIT_FOLDERS.validation, ...SPLIT_FOLDERS.test]) !== undefined)
      throw new DataError(`${dir}: has a val/ or test/ folder but no train/ folder`);
    return { train: scanClasses(dir) };
  }
  const known: string[] = Object.values(SPLIT_FOLDERS).flat();
  const stray = names.filter((n) => !known.includes(n));
  if (stray.length > 0) throw new DataError(`${dir}: unexpected folder ${stray[0]} beside train/ (expected only train/, val/ or validation/, test/)`);
  const train = scanClasses(join(dir, find(SPLIT_FOLDERS.train)!));
  const other = (split: readonly string[]) => {
    const name = find(split);
    if (name === undefined) return undefined;
    const scanned = scanClasses(join(dir, name));
    if (scanned.classNames.join('\n') !== train.classNames.join('\n')) {
      throw new DataError(`${scanned.dir}: classes (${scanned.classNames.join(', ')}) differ from those of ${train.dir} (${train.classNames.join(', ')})`);
    }
    return scanned;
  };
  return { train, validation: other(SPLIT_FOLDERS.validation), test: other(SPLIT_FOLDERS.test) };
}

/** Every image file of the folder, train's first, then validation's and test's (the order they are decoded in). */
export function imageFolderFiles(dir: string): string[] {
  const { train, validation, test } = scanFolder(dir);
  return [train, validation, test].flatMap((s) => s?.files ?? []);
}

type Sharp = typeof import('sharp')['default'];

async function loadSharp(): Promise<Sharp> {
  return (await import('sharp')).default;
}

async function decodeImage(sharp: Sharp, file: string, [height, width, channels]: [number, number, number]): Promise<Uint8Array> {
  try {
    const image = sharp(file, { failOn: 'error' }).rotate().resize(width, height, { fit: 'fill' }).removeAlpha();
    const { data, info } = await image
      .toColourspace(channels === 1 ? 'b-w' : 'srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== channels || data.length !== height * width * channels) throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}`);
    return data;
  } catch (err) {
    throw new DataError(`${file}: not a readable PNG or JPEG image (${(err as Error).message})`);
  }
}

/** The first training image's size, and 1 channel if it is gray, else 3. */
async function firstImageShape(sharp: Sharp, file: string): Promise<[number, number, number]> {
  try {
    const meta = await sharp(file).metadata();
    const upright = (meta.orientation ?? 1) >= 5; // EXIF 5-8 swap width and height
    return [upright ? meta.width : meta.height, upright ? meta.height : meta.width, meta.space === 'b-w' || meta.space === 'grey16' ? 1 : 3];
  } catch (err) {
    throw new DataError(`${file}: not a readable PNG or JPEG image (${(err as Error).message})`);
  }
}

function cacheKey(files: string[], root: string, shape: [number, number, number]): string {
  const hash = createHash('sha256').update(JSON.stringify({ version: 1, shape }));
  for (const file of files) {
    const { size, mtimeMs } = statSync(file);
    hash.update(`${relative(root, file)}\0${size}\0${mtimeMs}\n`);
  }
  return hash.digest('hex').slice(0, 32);
}

/** Decodes `files` in order into one NHWC byte array, from the cache when it holds them. */
async function decodeAll(files: string[], root: string, shape: [number, number, number], options: ImageFolderOptions): Promise<Uint8Array> {
  const perImage = shape[0] * shape[1] * shape[2];
  const cacheDir = options.cacheDir === undefined ? defaultCacheDir() : options.cacheDir;
  const cacheFile = cacheDir === false ? undefined : join(cacheDir, `${cacheKey(files, root, shape)}.u8`);
  const cached = cacheFile && readCached(cacheFile, files.length * perImage);
  if (cached) return cached;
  const sharp = await loadSharp();
  const pixels = new Uint8Array(files.length * perImage);
  for (let start = 0; start < files.length; start += DECODE_CONCURRENCY) {
    const chunk = files.slice(start, start + DECODE_CONCURRENCY);
    const decoded = await Promise.all(chunk.map((f) => decodeImage(sharp, f, shape)));
    decoded.forEach((bytes, i) => pixels.set(bytes, (start + i) * perImage));
    options.onProgress?.(start + chunk.length, files.length);
  }
  if (cacheFile !== undefined) {
    const written = writeCached(cacheFile, pixels);
    options.onCacheWrite?.(written, cacheFile);
  }
  return pixels;
}

/** Loads a folder of labelled images as a data set (see the file comment for the layout). */
export async function loadImageFolder(dir: string, options: ImageFolderOptions = {}): Promise<Dataset> {
  const splits = scanFolder(dir);
  const first =
    options.inputShape !== undefined || (options.imageSize !== undefined && options.channels !== undefined)
      ? undefined
      : await firstImageShape(await loadSharp(), splits.train.files[0]);
  const inputShape = options.inputShape ?? [options.imageSize?.[0] ?? first![0], options.imageSize?.[1] ?? first![1], options.channels ?? first![2]];
  if (inputShape[2] !== 1 && inputShape[2] !== 3) throw new DataError(`${dir}: images can be decoded to 1 (gray) or 3 (RGB) channels, not ${inputShape[2]}`);
  const ordered = [splits.train, splits.validation, splits.test].filter((s): s is LabelledFiles => s !== undefined);
  const pixels = await decodeAll(
    ordered.flatMap((s) => s.files),
    dir,
    inputShape,
    options,
  );
  const perImage = inputShape[0] * inputShape[1] * inputShape[2];
  let offset = 0;
  const labelled = (s: LabelledFiles | undefined): LabelledPixels | undefined => {
    if (s === undefined) return undefined;
    const part = { pixels: pixels.subarray(offset * perImage, (offset + s.files.length) * perImage), labels: Uint8Array.from(s.labels), count: s.files.length };
    offset += s.files.length;
    return part;
  };
  const train = labelled(splits.train)!;
  const validation = labelled(splits.validation);
  const test = labelled(splits.test);
  return carveSplits(
    { name: basename(dir), source: dir, inputShape, numClasses: splits.train.classNames.length, classNames: splits.train.classNames },
    { train, validation, test },
    options,
  );
}
