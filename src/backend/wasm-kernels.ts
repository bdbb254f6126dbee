/**
 * Training kernels for the wasm backend.
 *
 * tfjs-backend-wasm 4.22 has no Conv2DBackpropFilter (so a conv layer cannot be
 * trained at all) and its Conv2DBackpropInput is a naive loop about 10x slower
 * than its Conv2D. Both gradients are correlations themselves, so we express
 * them as the backend's own XNNPACK Conv2D over transposed / zero-dilated
 * tensors, composed at the kernel level (TensorInfo in, TensorInfo out) so the
 * engine sees one kernel call and no intermediate tensors escape.
 *
 * Gradients of dilated convolutions are not supported by tfjs itself, so the
 * forward dilation is always 1 here.
 *
 * The stock BatchMatMul is about 6x slower when asked to transpose an operand
 * (every dense-layer gradient does); transposing first with the fast Transpose
 * kernel and multiplying plainly restores full speed.
 *
 * Sum and Mean over the leading axes (BatchNorm's per-channel statistics and
 * their gradients reduce NHWC over N, H, W) transpose the whole tensor first,
 * and the stock MaxPoolGrad scans every window for every input element. Both
 * are single passes over memory, written here in JS on the wasm heap
 * (float64 accumulators for the sums), in blocks that the heap pool spreads
 * over the wasm threads (heap-blocks.ts): 10x or more faster.
 *
 * The depthwise gradients (MobileNet-style models) are missing from the wasm
 * backend altogether. With one filter per channel (multiplier 1, as in
 * MobileNets) both are the backend's own depthwise conv over rearranged
 * tensors; other multipliers are direct loops on the heap.
 */
import * as tf from '@tensorflow/tfjs';
import { backend_util } from '@tensorflow/tfjs';
import { BLOCK_KERNEL, blocksFor, blockTotals } from './heap-blocks.js';
import { runBlocks } from './heap-pool.js';

type TensorInfo = tf.TensorInfo;
type Pads = [[number, number], [number, number], [number, number], [number, number]];

export interface WasmBackendLike extends tf.KernelBackend {
  disposeData(dataId: object, force?: boolean): boolean;
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): backend_util.TypedArray;
  wasm: { HEAPU8: Uint8Array; wasmMemory?: WebAssembly.Memory };
}

export type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap };

/**
 * A float32 tensor's values, in place on the wasm heap. Take views only after
 * every makeOutput of a kernel: allocating may grow the heap and detach older ones.
 */
export function heapFloats(backend: tf.KernelBackend, info: TensorInfo): Float32Array {
  return (backend as WasmBackendLike).typedArrayFromHeap(info) as Float32Array;
}

/** Where a tensor's values start on the wasm heap, in bytes. */
export function heapOffset(backend: tf.KernelBackend, info: TensorInfo): number {
  return heapFloats(backend, info).byteOffset;
}

/** The wasm heap as it is now: it may grow at every makeOutput, so take it after them. */
export function heapBuffer(backend: tf.KernelBackend): ArrayBufferLike {
  return (backend as WasmBackendLike).wasm.HEAPU8.buffer;
}

/** Room on the heap for `count` float64 values (partial sums, coefficients); free it with backend.disposeData(info.dataId). */
export function heapScratch(backend: tf.KernelBackend, count: number): TensorInfo {
  return (backend as WasmBackendLike).makeOutput([2 * count], 'float32');
}

const BACKEND = 'wasm';

/** Calls another wasm kernel directly on TensorInfos. */
function runKernel(name: string, backend: WasmBackendLike, inputs: tf.NamedTensorInfoMap, attrs: object): TensorInfo {
  const kernel = tf.getKernel(name, BACKEND);
  if (kernel === undefined) throw new Error(`wasm backend has no ${name} kernel`);
  return kernel.kernelFunc({ inputs, backend, attrs: attrs as tf.NamedAttrMap }) as TensorInfo;
}

/** Runs the steps in order, each on the previous result, freeing every intermediate. */
class KernelChain {
  private readonly owned: TensorInfo[] = [];
  constructor(private readonly backend: WasmBackendLike) {}

  run(name: string, inputs: tf.NamedTensorInfoMap, attrs: object): TensorInfo {
    const out = runKernel(name, this.backend, inputs, attrs);
    this.owned.push(out);
    return out;
  }

  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run('Transpose', { x }, { perm });
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  /** Slices away negative paddings; returns the non-negative remainder to pad with. */
  cropNegative(x: TensorInfo, pads: Pads): { x: TensorInfo; pads: Pads } {
    if (pads.every(([before, after]) => before >= 0 && after >= 0)) return { x, pads };
    const begin = pads.map(([before]) => Math.max(0, -before));
    const size = x.shape.map((n, i) => n - begin[i] - Math.max(0, -pads[i][1]));
    const cropped = this.run('Slice', { x }, { begin, size });
    const rest = pads.map(([b, a]) => [Math.max(0, b), Math.max(0, a)]) as Pads;
    return { x: cropped, pads: rest };
  }

  /** Inserts stride-1 zeros after every element along H and W (NHWC). */
  zeroDilate(x: TensorInfo, strideH: number, strideW: number): TensorInfo {
    const [b, h, w, c] = x.shape;
    let out = x;
    if (strideH > 1) {
      out = this.reshape(out, [b, h, 1, w * c]);
      out = this.run(
        'PadV2',
        { x: out },
        {
          paddings: [
            [0, 0],
            [0, 0],
            [0, strideH - 1],
            [0, 0],
          ],
          constantValue: 0,
        },
      );
      out = this.reshape(out, [b, h * strideH, w, c]);
    }
    if (strideW > 1) {
      const rows = out.shape[0] * out.shape[1];
      out = this.reshape(out, [rows, w, 1, c]);
      out = this.run(
        'PadV2',
        { x: out },
        {
          paddings: [
            [0, 0],
            [0, 0],
            [0, strideW - 1],
            [0, 0],
          ],
          constantValue: 0,
        },
      );
      out = this.reshape(out, [b, h * strideH, w * strideW, c]);
    }
    return out;
  }

  conv2d(x: TensorInfo, filter: TensorInfo, pads: Pads, dilations: [number, number]): TensorInfo {
    const cropped = this.cropNegative(x, pads);
    return this.run('Conv2D', { x: cropped.x, filter }, { strides: [1, 1], pad: cropped.pads, dataFormat: 'NHWC', dilations, dimRoundingMode: undefined });
  }

  /** Trims axes 1 and 2 of a filter gradient to the filter's height and width. */
  cropToFilter(grad: TensorInfo, info: backend_util.Conv2DInfo): TensorInfo {
    if (grad.shape[1] === info.filterHeight && grad.shape[2] === info.filterWidth) return grad;
    return this.run('Slice', { x: grad }, { begin: [0, 0, 0, 0], size: [-1, info.filterHeight, info.filterWidth, -1] });
  }

  /** Frees every intermediate except `result`. */
  finish(result: TensorInfo): TensorInfo {
    for (const info of this.owned) {
      if (info !== result) this.backend.disposeData(info.dataId);
    }
    return result;
  }
}

interface ConvGradAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function assertNHWC(kernel: string, attrs: ConvGradAttrs): void {
  if (attrs.dataFormat !== 'NHWC') throw new Error(`${kernel} on wasm supports NHWC only, got ${attrs.dataFormat}`);
}

/**
 * Pads of x for a filter gradient computed as a correlation of x with dy as the
 * filter, dilated by the stride: the output is at least kh x kw (cropToFilter trims it).
 */
function filterGradientPads(info: backend_util.Conv2DInfo): Pads {
  const { top, left } = info.padInfo;
  const bottom = info.filterHeight - info.inHeight - top + (info.outHeight - 1) * info.strideHeight;
  const right = info.filterWidth - info.inWidth - left + (info.outWidth - 1) * info.strideWidth;
  return [
    [0, 0],
    [top, Math.max(0, bottom)],
    [left, Math.max(0, right)],
    [0, 0],
  ];
}

/** Pads of the zero-dilated dy for an input gradient computed as its correlation with the reversed filter: the output has the input's size. */
function inputGradientPads(info: backend_util.Conv2DInfo, dilated: TensorInfo): Pads {
  const { top, left } = info.padInfo;
  return [
    [0, 0],
    [info.filterHeight - 1 - top, info.inHeight - dilated.shape[1] + top],
    [info.filterWidth - 1 - left, info.inWidth - dilated.shape[2] + left],
    [0, 0],
  ];
}

/**
 * dW[kh,kw,ci,co] = sum_{b,oh,ow} x[b, oh*s+kh-top, ow*s+kw-left, ci] * dy[b,oh,ow,co]:
 * a conv of x (batch and channels swapped) with dy as the filter, dilated by the stride.
 */
function conv2dBackpropFilter(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap }): TensorInfo {
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const attrs = args.attrs as unknown as ConvGradAttrs & { filterShape: [number, number, number, number] };
  assertNHWC('Conv2DBackpropFilter', attrs);
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const chain = new KernelChain(args.backend as WasmBackendLike);
  const pointwise = info.filterHeight === 1 && info.filterWidth === 1 && info.padInfo.top === 0 && info.padInfo.left === 0;
  // Every output pixel reads one input pixel (no extra rows or columns from bottom / right padding or rounding).
  if (pointwise && info.outHeight === Math.ceil(info.inHeight / info.strideHeight) && info.outWidth === Math.ceil(info.inWidth / info.strideWidth)) {
    // A 1x1 conv is a matrix product over the pixels it reads: dW = x^T dy, one GEMM (11x faster than a conv with a pixels-sized kernel, measured on 64x28x28x16 -> 64).
    const strided =
      info.strideHeight === 1 && info.strideWidth === 1
        ? x
        : chain.run(
            'StridedSlice',
            { x },
            {
              begin: [0, 0, 0, 0],
              end: x.shape,
              strides: [1, info.strideHeight, info.strideWidth, 1],
              beginMask: 0,
              endMask: 0,
              ellipsisMask: 0,
              newAxisMask: 0,
              shrinkAxisMask: 0,
            },
          );
    const pixels = dy.shape[0] * dy.shape[1] * dy.shape[2];
    const xT = chain.transpose(chain.reshape(strided, [1, pixels, info.inChannels]), [0, 2, 1]);
    const product = chain.run('BatchMatMul', { a: xT, b: chain.reshape(dy, [1, pixels, info.outChannels]) }, { transposeA: false, transposeB: false });
    return chain.finish(chain.reshape(product, attrs.filterShape));
  }
  const xT = chain.transpose(x, [3, 1, 2, 0]); // [ci, H, W, batch]
  const dyT = chain.transpose(dy, [1, 2, 0, 3]); // [outH, outW, batch, co]
  const grad = chain.conv2d(xT, dyT, filterGradientPads(info), [info.strideHeight, info.strideWidth]); // [ci, >=kh, >=kw, co]
  return chain.finish(chain.transpose(chain.cropToFilter(grad, info), [1, 2, 0, 3]));
}

/**
 * dx = correlation of the zero-dilated dy with the spatially reversed,
 * in/out-swapped filter, padded so the output has the input's size.
 */
function conv2dBackpropInput(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap }): TensorInfo {
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  const attrs = args.attrs as unknown as ConvGradAttrs & { inputShape: [number, number, number, number] };
  assertNHWC('Conv2DBackpropInput', attrs);
  const info = backend_util.computeConv2DInfo(
    attrs.inputShape,
    filter.shape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const chain = new KernelChain(args.backend as WasmBackendLike);
  const dilated = chain.zeroDilate(dy, info.strideHeight, info.strideWidth); // [b, outH*s, outW*s, co]
  const reversed = chain.run('Reverse', { x: filter }, { dims: [0, 1] });
  const swapped = chain.transpose(reversed, [0, 1, 3, 2]); // [kh, kw, co, ci]
  return chain.finish(chain.conv2d(dilated, swapped, inputGradientPads(info, dilated), [1, 1]));
}

/** Swaps the last two axes. */
function lastTwoSwapped(rank: number): number[] {
  return [...Array.from({ length: rank - 2 }, (_, i) => i), rank - 1, rank - 2];
}

function batchMatMulPlain(stock: tf.KernelFunc) {
  return (args: KernelArgs): TensorInfo => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    if (!transposeA && !transposeB) return stock(args) as TensorInfo;
    const chain = new KernelChain(args.backend as WasmBackendLike);
    const plainA = transposeA ? chain.transpose(a, lastTwoSwapped(a.shape.length)) : a;
    const plainB = transposeB ? chain.transpose(b, lastTwoSwapped(b.shape.length)) : b;
    const product = stock({ ...args, inputs: { a: plainA, b: plainB }, attrs: { ...args.attrs, transposeA: false, transposeB: false } }) as TensorInfo;
    return chain.finish(product);
  };
}

const product = (dims: number[]) => dims.reduce((a, b) => a * b, 1);

/** Sum or Mean over the leading axes in one pass; other reductions go to the stock kernel. */
function leadingAxesReduction(stock: tf.KernelFunc, isMean: boolean) {
  return (args: KernelArgs): TensorInfo => {
    const { x } = args.inputs as { x: TensorInfo };
    const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
    const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
    const reduced = axes.length;
    const leading = reduced > 0 && reduced < x.shape.length && axes.every((a, i) => a === i);
    if (!leading || x.dtype !== 'float32') return stock(args) as TensorInfo;
    const backend = args.backend as WasmBackendLike;
    const outer = product(x.shape.slice(0, reduced));
    const inner = product(x.shape.slice(reduced));
    const outShape = keepDims ? x.shape.map((d, i) => (i < reduced ? 1 : d)) : x.shape.slice(reduced);
    const out = backend.makeOutput(outShape, 'float32');
    const blocks = blocksFor(outer * inner, outer);
    const partials = heapScratch(backend, inner * blocks);
    const partialsAt = heapOffset(backend, partials);
    runBlocks(heapBuffer(backend), BLOCK_KERNEL.leadingSums, [heapOffset(backend, x), outer, inner, partialsAt], blocks);
    const sums = blockTotals(heapBuffer(backend), partialsAt, inner, blocks);
    const result = heapFloats(backend, out);
    const scale = isMean ? 1 / outer : 1;
    for (let i = 0; i < inner; i++) result[i] = sums[i] * scale;
    backend.disposeData(partials.dataId);
    return out;
  };
}

/**
 * dx[b, argmax of each window, c] += dy[b, oh, ow, c], the window's first
 * maximum in row-major order as the cpu backend picks it.
 */
function maxPoolGrad(args: KernelArgs): TensorInfo {
  const { dy, input } = args.inputs as { dy: TensorInfo; input: TensorInfo };
  const attrs = args.attrs as unknown as {
    filterSize: [number, number] | number;
    strides: [number, number] | number;
    pad: 'valid' | 'same' | number;
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
  };
  const backend = args.backend as WasmBackendLike;
  const info = backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth, strideHeight, strideWidth } = info;
  const { filterHeight, filterWidth } = info;
  const { top, left } = info.padInfo;
  const dx = backend.makeOutput(input.shape, 'float32');
  const [xAt, dyAt, dxAt] = [input, dy, dx].map((t) => heapOffset(backend, t));
  const shape = [batchSize, inHeight, inWidth, channels, outHeight, outWidth, strideHeight, strideWidth, filterHeight, filterWidth, top, left];
  runBlocks(heapBuffer(backend), BLOCK_KERNEL.maxPoolGrad, [xAt, dyAt, dxAt, ...shape], blocksFor(tf.util.sizeFromShape(input.shape), batchSize));
  return dx;
}

interface DepthwiseGradAttrs {
  strides: [number, number] | number;
  dilations: [number, number] | number;
  pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/**
 * The index arithmetic both depthwise gradients share: y[b, oh, ow, c*m + q] =
 * sum_{i,j} x[b, oh*sh + i*dh - top, ow*sw + j*dw - left, c] * f[i, j, c, q].
 * Calls visit(xOffset, dyOffset, fOffset) once per (b, oh, ow, i, j) whose
 * input pixel is inside the image; offsets point at channel 0.
 */
function forEachDepthwiseTap(info: backend_util.Conv2DInfo, visit: (xAt: number, dyAt: number, fAt: number) => void): void {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth } = info;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth } = info;
  const { top, left } = info.padInfo;
  for (let b = 0; b < batchSize; b++) {
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++) {
        const dyAt = ((b * outHeight + oh) * outWidth + ow) * outChannels;
        for (let i = 0; i < filterHeight; i++) {
          const h = oh * strideHeight + i * dilationHeight - top;
          if (h < 0 || h >= inHeight) continue;
          for (let j = 0; j < filterWidth; j++) {
            const w = ow * strideWidth + j * dilationWidth - left;
            if (w < 0 || w >= inWidth) continue;
            visit(((b * inHeight + h) * inWidth + w) * inChannels, dyAt, (i * filterWidth + j) * outChannels);
          }
        }
      }
    }
  }
}

/**
 * dx[b, h, w, c] = sum over the taps reading it of sum_q dy[b, oh, ow, c*m + q] * f[i, j, c, q].
 * With multiplier 1 this is a depthwise correlation itself, of the zero-dilated
 * dy with the spatially reversed filter (as for Conv2DBackpropInput), which the
 * backend's XNNPACK kernel runs about 8x faster than the loop used for m > 1
 * (mobilenet-small's training step, profiled).
 */
function depthwiseBackpropInput(args: KernelArgs): TensorInfo {
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  const attrs = args.attrs as unknown as DepthwiseGradAttrs & { inputShape: [number, number, number, number] };
  const backend = args.backend as WasmBackendLike;
  const info = backend_util.computeConv2DInfo(
    attrs.inputShape,
    filter.shape as [number, number, number, number],
    attrs.strides,
    attrs.dilations,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
  );
  if (info.outChannels === info.inChannels && info.dilationHeight === 1 && info.dilationWidth === 1) {
    const chain = new KernelChain(backend);
    const dilated = chain.zeroDilate(dy, info.strideHeight, info.strideWidth);
    const reversed = chain.run('Reverse', { x: filter }, { dims: [0, 1] });
    const cropped = chain.cropNegative(dilated, inputGradientPads(info, dilated));
    return chain.finish(
      chain.run(
        'DepthwiseConv2dNative',
        { x: cropped.x, filter: reversed },
        { strides: [1, 1], pad: cropped.pads, dilations: [1, 1], dataFormat: 'NHWC', dimRoundingMode: undefined },
      ),
    );
  }
  const dx = backend.makeOutput(attrs.inputShape, 'float32');
  const [gradient, weights, result] = [heapFloats(backend, dy), heapFloats(backend, filter), heapFloats(backend, dx)];
  result.fill(0);
  const { inChannels, outChannels } = info;
  const multiplier = outChannels / inChannels;
  forEachDepthwiseTap(info, (xAt, dyAt, fAt) => {
    for (let c = 0; c < inChannels; c++) {
      let sum = 0;
      for (let q = 0; q < multiplier; q++) sum += gradient[dyAt + c * multiplier + q] * weights[fAt + c * multiplier + q];
      result[xAt + c] += sum;
    }
  });
  return dx;
}

/** df[i, j, c, q] = sum over b, oh, ow of x[b, h, w, c] * dy[b, oh, ow, c*m + q] (float64 accumulators). */
function depthwiseBackpropFilter(args: KernelArgs): TensorInfo {
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const attrs = args.attrs as unknown as DepthwiseGradAttrs & { filterShape: [number, number, number, number] };
  const backend = args.backend as WasmBackendLike;
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    attrs.dilations,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
  );
  if (info.outChannels === info.inChannels && info.dilationHeight === 1 && info.dilationWidth === 1) {
    // Batch folded into channels, dy as the filter: [1, kh, kw, batch * C], then summed over the batch.
    const [batch, height, width, channels] = x.shape;
    const chain = new KernelChain(backend);
    const xT = chain.reshape(chain.transpose(x, [1, 2, 0, 3]), [1, height, width, batch * channels]);
    const dyT = chain.reshape(chain.transpose(dy, [1, 2, 0, 3]), [info.outHeight, info.outWidth, batch * channels, 1]);
    const grad = chain.run(
      'DepthwiseConv2dNative',
      { x: xT, filter: dyT },
      { strides: [1, 1], pad: filterGradientPads(info), dilations: [info.strideHeight, info.strideWidth], dataFormat: 'NHWC', dimRoundingMode: undefined },
    );
    const taps = chain.reshape(chain.cropToFilter(grad, info), [info.filterHeight * info.filterWidth, batch, channels]);
    const summed = chain.run('Sum', { x: chain.transpose(taps, [1, 0, 2]) }, { axis: [0], keepDims: false });
    return chain.finish(chain.reshape(summed, attrs.filterShape));
  }
  const df = backend.makeOutput(attrs.filterShape, 'float32');
  const [input, gradient] = [heapFloats(backend, x), heapFloats(backend, dy)];
  const sums = new Float64Array(attrs.filterShape.reduce((a, b) => a * b, 1));
  const { inChannels, outChannels } = info;
  const multiplier = outChannels / inChannels;
  forEachDepthwiseTap(info, (xAt, dyAt, fAt) => {
    for (let c = 0; c < inChannels; c++) {
      const value = input[xAt + c];
      for (let q = 0; q < multiplier; q++) sums[fAt + c * multiplier + q] += value * gradient[dyAt + c * multiplier + q];
    }
  });
  heapFloats(backend, df).set(sums);
  return df;
}

/** Replaces a stock wasm kernel by a wrapper around it, keeping its setup. */
function wrapStockKernel(kernelName: string, wrap: (stock: tf.KernelFunc) => (args: KernelArgs) => TensorInfo): void {
  const stock = tf.getKernel(kernelName, BACKEND);
  if (stock === undefined) throw new Error(`wasm backend has no ${kernelName} kernel`);
  tf.unregisterKernel(kernelName, BACKEND);
  tf.registerKernel({ ...stock, kernelFunc: wrap(stock.kernelFunc) as unknown as tf.KernelFunc });
}

let registered = false;

/** Registers the training kernels on the wasm backend (idempotent). */
export function registerWasmTrainingKernels(): void {
  if (registered) return;
  for (const [kernelName, kernelFunc] of [
    ['Conv2DBackpropFilter', conv2dBackpropFilter],
    ['Conv2DBackpropInput', conv2dBackpropInput],
    ['MaxPoolGrad', maxPoolGrad],
    ['DepthwiseConv2dNativeBackpropInput', depthwiseBackpropInput],
    ['DepthwiseConv2dNativeBackpropFilter', depthwiseBackpropFilter],
  ] as const) {
    if (tf.getKernel(kernelName, BACKEND) !== undefined) tf.unregisterKernel(kernelName, BACKEND);
    tf.registerKernel({ kernelName, backendName: BACKEND, kernelFunc: kernelFunc as unknown as tf.KernelFunc });
  }
  wrapStockKernel('BatchMatMul', batchMatMulPlain);
  wrapStockKernel('Sum', (stock) => leadingAxesReduction(stock, false));
  wrapStockKernel('Mean', (stock) => leadingAxesReduction(stock, true));
  registered = true;
}
