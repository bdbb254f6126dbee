/**
 * Weight quantization as TF.js stores it (the `quantization` field of a
 * weights-manifest entry, which tf.loadLayersModel decodes): float32 weights
 * as IEEE half floats, or as unsigned integers q with value = q * scale + min.
 * A model published quantized is saved back quantized the same way, so that
 * pruning never makes it larger on disk.
 */
import * as tf from '@tensorflow/tfjs';

export const WEIGHTS_DTYPES = ['float32', 'float16', 'uint16', 'uint8'] as const;
export type WeightsDtype = (typeof WEIGHTS_DTYPES)[number];

const float = new Float32Array(1);
const bits = new Uint32Array(float.buffer);

/** The IEEE half-float bits nearest to `value` (ties to even; overflow to infinity). */
export function toFloat16Bits(value: number): number {
  float[0] = value;
  const x = bits[0];
  const sign = (x >>> 16) & 0x8000;
  const biased = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (biased === 0xff) return sign | 0x7c00 | (mantissa === 0 ? 0 : 0x200); // infinity, NaN
  const exponent = biased - 127 + 15;
  if (exponent >= 0x1f) return sign | 0x7c00;
  let shift = 13;
  let half: number;
  if (exponent <= 0) {
    if (exponent < -10) return sign; // below half the smallest subnormal: zero
    mantissa |= 0x800000; // subnormal: the implicit bit becomes explicit
    shift = 14 - exponent;
    half = mantissa >>> shift;
  } else half = (exponent << 10) | (mantissa >>> 13);
  const rest = mantissa & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  if (rest > halfway || (rest === halfway && (half & 1) === 1)) half++; // a carry into the exponent is the right rounding
  return sign | half;
}

function quantizeValues(
  values: Float32Array,
  dtype: Exclude<WeightsDtype, 'float32'>,
): { bytes: Uint8Array; quantization: NonNullable<tf.io.WeightsManifestEntry['quantization']> } {
  if (dtype === 'float16') {
    const halves = Uint16Array.from(values, toFloat16Bits);
    return { bytes: new Uint8Array(halves.buffer), quantization: { dtype } };
  }
  const levels = dtype === 'uint8' ? 255 : 65535;
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  if (values.length === 0) min = max = 0;
  const scale = max > min ? (max - min) / levels : 1;
  const quantized = dtype === 'uint8' ? new Uint8Array(values.length) : new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) quantized[i] = Math.round((values[i] - min) / scale);
  return { bytes: new Uint8Array(quantized.buffer), quantization: { dtype, scale, min } };
}

/**
 * Re-encodes the float32 weights of saved artifacts (specs and their
 * concatenated float32 / int32 data) as `dtype`; other weights are copied.
 */
export function quantizeWeights(
  specs: tf.io.WeightsManifestEntry[],
  data: Uint8Array,
  dtype: WeightsDtype,
): { specs: tf.io.WeightsManifestEntry[]; data: Uint8Array } {
  if (dtype === 'float32') return { specs, data };
  const parts: Uint8Array[] = [];
  const out: tf.io.WeightsManifestEntry[] = [];
  let offset = 0;
  for (const spec of specs) {
    if (spec.quantization !== undefined) throw new Error(`weight ${spec.name} is already quantized`);
    const bytes = spec.shape.reduce((a, b) => a * b, 1) * 4; // float32 and int32
    const slice = data.slice(offset, offset + bytes);
    offset += bytes;
    if (spec.dtype !== 'float32') {
      parts.push(slice);
      out.push(spec);
      continue;
    }
    const { bytes: encoded, quantization } = quantizeValues(new Float32Array(slice.buffer), dtype);
    parts.push(encoded);
    out.push({ ...spec, quantization });
  }
  const joined = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    joined.set(p, at);
    at += p.length;
  }
  return { specs: out, data: joined };
}

/** How a model's float32 weights are stored: the quantization most of them use, else float32. */
export function storedWeightsDtype(specs: tf.io.WeightsManifestEntry[]): WeightsDtype {
  const counts = new Map<WeightsDtype, number>();
  for (const spec of specs) {
    if (spec.dtype !== 'float32') continue;
    const dtype: WeightsDtype = spec.quantization?.dtype ?? 'float32';
    counts.set(dtype, (counts.get(dtype) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'float32';
}

/** The float an IEEE half-float bit pattern stands for. */
export function fromFloat16Bits(half: number): number {
  const sign = half & 0x8000 ? -1 : 1;
  const exponent = (half >> 10) & 0x1f;
  const mantissa = half & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : Number.NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** What float32 `values` come back as after being stored as `dtype` and decoded as tf.loadLayersModel decodes them. */
export function storedValues(values: Float32Array, dtype: WeightsDtype): Float32Array {
  if (dtype === 'float32') return values;
  const { bytes, quantization } = quantizeValues(values, dtype);
  if (dtype === 'float16') return Float32Array.from(new Uint16Array(bytes.buffer, bytes.byteOffset, values.length), fromFloat16Bits);
  const quantized = dtype === 'uint8' ? bytes : new Uint16Array(bytes.buffer, bytes.byteOffset, values.length);
  return Float32Array.from(quantized, (q) => q * quantization.scale! + quantization.min!);
}

/**
 * Sets the float32 weights of `model` to what storing them as `dtype` gives
 * back, so that accuracy measured on it is the saved model's.
 */
export function roundTripWeights(model: tf.LayersModel, dtype: WeightsDtype): void {
  if (dtype === 'float32') return;
  for (const layer of model.layers) {
    const weights = layer.getWeights();
    if (weights.length === 0) continue;
    const stored = weights.map((w) => (w.dtype === 'float32' ? tf.tensor(storedValues(w.dataSync() as Float32Array, dtype), w.shape) : w.clone()));
    layer.setWeights(stored);
    tf.dispose(stored);
  }
}
