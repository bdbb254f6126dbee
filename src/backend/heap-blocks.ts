/**
 * The project's JS training kernels as blocks: each kernel's work cut into
 * a number of blocks fixed by its tensor's shape, each block a plain loop
 * over the wasm heap. The heap pool (heap-pool.ts) runs the blocks on
 * several threads, or all of them in the calling thread; a block writes only
 * its own part of the output (or its own partial sums, which the caller adds
 * in block order), so the result is the same for any thread count.
 *
 * A block kernel reads its tensors from the heap at the byte offsets in
 * `args` (float32 tensors; float64 scratch for partial sums and per-channel
 * coefficients). It imports nothing: the pool's worker threads load this file alone.
 */

/** A kernel's block `block` of `blocks`, on the heap `heap`, with its arguments (offsets, sizes). */
export type BlockKernel = (heap: ArrayBufferLike, args: Float64Array, block: number, blocks: number) => void;

/** Block `block` of `blocks` of the range [0, count): the same split for any thread count. */
export function blockRange(count: number, block: number, blocks: number): [number, number] {
  return [Math.floor((count * block) / blocks), Math.floor((count * (block + 1)) / blocks)];
}

/** Values a block covers, about: small enough that two threads share a kernel of a 28 px batch, large enough that handing a block out costs nothing. */
const BLOCK_VALUES = 16_384;
const MAX_BLOCKS = 16;

/** The blocks of a kernel over `elements` values in `rows` rows: fixed by the shape alone, so results do not depend on the threads. */
export function blocksFor(elements: number, rows = elements): number {
  return Math.max(1, Math.min(MAX_BLOCKS, rows, Math.floor(elements / BLOCK_VALUES)));
}

/** The per-block partial sums at `partialsAt` (`width` float64 values per block) added up in block order: the same totals for any thread count. */
export function blockTotals(heap: ArrayBufferLike, partialsAt: number, width: number, blocks: number): Float64Array {
  const partials = new Float64Array(heap, partialsAt, width * blocks);
  const totals = new Float64Array(width);
  for (let block = 0; block < blocks; block++) {
    for (let i = 0; i < width; i++) totals[i] += partials[block * width + i];
  }
  return totals;
}

const floats = (heap: ArrayBufferLike, offset: number, length: number) => new Float32Array(heap, offset, length);
const doubles = (heap: ArrayBufferLike, offset: number, length: number) => new Float64Array(heap, offset, length);

/**
 * BatchNorm forward, pass 1: per-channel sums and sums of squares of the
 * block's rows. args: x, elements, channels, partials (float64, 2 x channels per block).
 */
const batchNormSums: BlockKernel = (heap, [xAt, elements, channels, partialsAt], block, blocks) => {
  const rows = elements / channels;
  const [from, to] = blockRange(rows, block, blocks);
  const xs = floats(heap, xAt + from * channels * 4, (to - from) * channels);
  const sums = new Float64Array(channels);
  const squares = new Float64Array(channels);
  // One flat loop with a wrapping channel index: V8 runs it 2x faster than nested loops over short rows.
  for (let i = 0, c = 0; i < xs.length; i++) {
    const value = xs[i];
    sums[c] += value;
    squares[c] += value * value;
    if (++c === channels) c = 0;
  }
  const partials = doubles(heap, partialsAt + block * 2 * channels * 8, 2 * channels);
  partials.set(sums);
  partials.set(squares, channels);
};

/** BatchNorm forward, pass 2: y = x scale + shift. args: x, elements, channels, y, coefficients (float64: scale, then shift). */
const batchNormApply: BlockKernel = (heap, [xAt, elements, channels, yAt, coefficientsAt], block, blocks) => {
  const rows = elements / channels;
  const [from, to] = blockRange(rows, block, blocks);
  const xs = floats(heap, xAt + from * channels * 4, (to - from) * channels);
  const ys = floats(heap, yAt + from * channels * 4, (to - from) * channels);
  const coefficients = doubles(heap, coefficientsAt, 2 * channels);
  const scale = coefficients.subarray(0, channels);
  const shift = coefficients.subarray(channels);
  for (let i = 0, c = 0; i < xs.length; i++) {
    ys[i] = xs[i] * scale[c] + shift[c];
    if (++c === channels) c = 0;
  }
};

/**
 * BatchNorm backward, pass 1: per-channel sums of dy and of dy xhat over the
 * block's rows. args: dy, x, elements, channels, mean, invStd, partials (float64, 2 x channels per block).
 */
const batchNormGradSums: BlockKernel = (heap, [dyAt, xAt, elements, channels, meanAt, invStdAt, partialsAt], block, blocks) => {
  const rows = elements / channels;
  const [from, to] = blockRange(rows, block, blocks);
  const dys = floats(heap, dyAt + from * channels * 4, (to - from) * channels);
  const xs = floats(heap, xAt + from * channels * 4, (to - from) * channels);
  const means = floats(heap, meanAt, channels);
  const invStds = floats(heap, invStdAt, channels);
  const sumDy = new Float64Array(channels);
  const sumDyXhat = new Float64Array(channels);
  for (let i = 0, c = 0; i < xs.length; i++) {
    const g = dys[i];
    sumDy[c] += g;
    sumDyXhat[c] += g * (xs[i] - means[c]) * invStds[c];
    if (++c === channels) c = 0;
  }
  const partials = doubles(heap, partialsAt + block * 2 * channels * 8, 2 * channels);
  partials.set(sumDy);
  partials.set(sumDyXhat, channels);
};

/**
 * BatchNorm backward, pass 2: dx = factor (dy - mean dy - xhat mean(dy xhat)).
 * args: dy, x, dx, elements, channels, mean, invStd, coefficients (float64: factor, mean dy, mean dy xhat).
 */
const batchNormGradApply: BlockKernel = (heap, [dyAt, xAt, dxAt, elements, channels, meanAt, invStdAt, coefficientsAt], block, blocks) => {
  const rows = elements / channels;
  const [from, to] = blockRange(rows, block, blocks);
  const dys = floats(heap, dyAt + from * channels * 4, (to - from) * channels);
  const xs = floats(heap, xAt + from * channels * 4, (to - from) * channels);
  const dxs = floats(heap, dxAt + from * channels * 4, (to - from) * channels);
  const means = floats(heap, meanAt, channels);
  const invStds = floats(heap, invStdAt, channels);
  const coefficients = doubles(heap, coefficientsAt, 3 * channels);
  const factor = coefficients.subarray(0, channels);
  const meanDy = coefficients.subarray(channels, 2 * channels);
  const meanDyXhat = coefficients.subarray(2 * channels);
  for (let i = 0, c = 0; i < xs.length; i++) {
    const xhat = (xs[i] - means[c]) * invStds[c];
    dxs[i] = factor[c] * (dys[i] - meanDy[c] - xhat * meanDyXhat[c]);
    if (++c === channels) c = 0;
  }
};

/**
 * ReLU6's gradient: dx = dy where 0 < x < 6 (or x <= 6: upperInclusive), else 0.
 * args: dy, x, dx, elements, upperInclusive (0 or 1).
 */
const relu6Grad: BlockKernel = (heap, [dyAt, xAt, dxAt, elements, upperInclusive], block, blocks) => {
  const [from, to] = blockRange(elements, block, blocks);
  const dys = floats(heap, dyAt + from * 4, to - from);
  const xs = floats(heap, xAt + from * 4, to - from);
  const dxs = floats(heap, dxAt + from * 4, to - from);
  // A multiply by the 0/1 mask, not a branch: activations straddle 0 at random, and a
  // mispredicted branch per element made this loop 4x slower. dy * 0 is NaN for a NaN dy, as in tfjs.
  if (upperInclusive === 1) {
    for (let i = 0; i < xs.length; i++) dxs[i] = dys[i] * (Number(xs[i] > 0) & Number(xs[i] <= 6));
  } else {
    for (let i = 0; i < xs.length; i++) dxs[i] = dys[i] * (Number(xs[i] > 0) & Number(xs[i] < 6));
  }
};

/**
 * Sum over the leading axes, pass 1: the block's share of the outer rows
 * summed per inner position. args: x, outer, inner, partials (float64, inner per block).
 */
const leadingSums: BlockKernel = (heap, [xAt, outer, inner, partialsAt], block, blocks) => {
  const [from, to] = blockRange(outer, block, blocks);
  const values = floats(heap, xAt + from * inner * 4, (to - from) * inner);
  const sums = new Float64Array(inner);
  for (let o = 0, offset = 0; o < to - from; o++, offset += inner) {
    for (let i = 0; i < inner; i++) sums[i] += values[offset + i];
  }
  doubles(heap, partialsAt + block * inner * 8, inner).set(sums);
};

/**
 * MaxPool's gradient for the block's images: dx[b, argmax of each window, c]
 * += dy[b, oh, ow, c], the window's first maximum in row-major order as the
 * cpu backend picks it. args: x, dy, dx, then batch, height, width, channels,
 * out height, out width, strides (2), filter size (2), padding top and left.
 */
const maxPoolGrad: BlockKernel = (heap, args, block, blocks) => {
  const [xAt, dyAt, dxAt, batchSize, inHeight, inWidth, channels, outHeight, outWidth, strideHeight, strideWidth, filterHeight, filterWidth, top, left] = args;
  const [from, to] = blockRange(batchSize, block, blocks);
  const imageSize = inHeight * inWidth * channels;
  const x = floats(heap, xAt, batchSize * imageSize);
  const gradient = floats(heap, dyAt, batchSize * outHeight * outWidth * channels);
  const result = floats(heap, dxAt, batchSize * imageSize);
  result.fill(0, from * imageSize, to * imageSize);
  const rowStride = inWidth * channels;
  // Per channel of the current window: its best value so far and where it is.
  const best = new Float32Array(channels);
  const bestAt = new Int32Array(channels);
  for (let b = from; b < to; b++) {
    const image = b * imageSize;
    for (let oh = 0; oh < outHeight; oh++) {
      const rowStart = oh * strideHeight - top;
      const rowFrom = Math.max(0, rowStart);
      const rowTo = Math.min(inHeight, rowStart + filterHeight);
      for (let ow = 0; ow < outWidth; ow++) {
        const colStart = ow * strideWidth - left;
        const colFrom = Math.max(0, colStart);
        const colTo = Math.min(inWidth, colStart + filterWidth);
        best.fill(-Infinity);
        bestAt.fill(-1);
        for (let r = rowFrom; r < rowTo; r++) {
          for (let q = colFrom; q < colTo; q++) {
            const pixel = image + r * rowStride + q * channels;
            for (let c = 0; c < channels; c++) {
              if (x[pixel + c] > best[c]) {
                best[c] = x[pixel + c];
                bestAt[c] = pixel + c;
              }
            }
          }
        }
        const dyOffset = ((b * outHeight + oh) * outWidth + ow) * channels;
        for (let c = 0; c < channels; c++) {
          if (bestAt[c] >= 0) result[bestAt[c]] += gradient[dyOffset + c];
        }
      }
    }
  }
};

/** The block kernels by number: the pool passes a kernel to its threads as its index here. */
export const BLOCK_KERNELS: readonly BlockKernel[] = [
  batchNormSums,
  batchNormApply,
  batchNormGradSums,
  batchNormGradApply,
  relu6Grad,
  leadingSums,
  maxPoolGrad,
];

export const BLOCK_KERNEL = {
  batchNormSums: 0,
  batchNormApply: 1,
  batchNormGradSums: 2,
  batchNormGradApply: 3,
  relu6Grad: 4,
  leadingSums: 5,
  maxPoolGrad: 6,
} as const;
