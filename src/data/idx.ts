/**
 * Reader for the IDX format used by MNIST and Fashion-MNIST (plain or gzip).
 *
 * Layout: two zero bytes, a type byte (0x08 = unsigned byte), a byte with the
 * number of dimensions, one big-endian uint32 per dimension, then the data.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { DataError } from '../errors.js';

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

const UNSIGNED_BYTE = 0x08;

/** Parses an IDX buffer; `file` names the source in errors. */
export function parseIdx(buffer: Uint8Array, file: string): IdxArray {
  let bytes = buffer;
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (err) {
      throw new DataError(`${file}: corrupt gzip data (${(err as Error).message})`);
    }
  }
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) {
    throw new DataError(`${file}: not an IDX file (expected magic bytes 00 00 <type> <ndims>)`);
  }
  if (bytes[2] !== UNSIGNED_BYTE) {
    throw new DataError(`${file}: IDX data type 0x${bytes[2].toString(16)} is not supported (expected 0x08, unsigned byte)`);
  }
  const ndims = bytes[3];
  const headerLength = 4 + 4 * ndims;
  if (ndims === 0 || bytes.length < headerLength) throw new DataError(`${file}: truncated IDX header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = Array.from({ length: ndims }, (_, i) => view.getUint32(4 + 4 * i, false));
  if (dims.includes(0))
    throw new DataError(`${file}: IDX header declares a zero size (${dims.join('x')}); a data file needs at least one image of at least one pixel`);
  const expected = dims.reduce((a, b) => a * b, 1);
  const actual = bytes.length - headerLength;
  if (actual !== expected) {
    throw new DataError(
      `${file}: IDX header declares ${dims.join('x')} = ${expected} bytes of data but the file holds ${actual}${actual < expected ? ' (truncated)' : ''}`,
    );
  }
  return { dims, data: bytes.subarray(headerLength) };
}

export function readIdx(path: string): IdxArray {
  let buffer: Buffer;
  try {
    buffer = readFileSync(path);
  } catch (err) {
    throw new DataError(`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parseIdx(buffer, path);
}

/** Encodes an IDX file (unsigned bytes); used to write test fixtures. */
export function encodeIdx(dims: number[], data: Uint8Array): Uint8Array {
  const header = new DataView(new ArrayBuffer(4 + 4 * dims.length));
  header.setUint8(2, UNSIGNED_BYTE);
  header.setUint8(3, dims.length);
  dims.forEach((d, i) => header.setUint32(4 + 4 * i, d, false));
  const out = new Uint8Array(header.byteLength + data.length);
  out.set(new Uint8Array(header.buffer), 0);
  out.set(data, header.byteLength);
  return out;
}
