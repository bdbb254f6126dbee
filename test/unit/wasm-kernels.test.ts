import * as tf from '@tensorflow/tfjs';
import seedrandom from 'seedrandom';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend/backend.js';

type Shape4 = [number, number, number, number];
type Pad = 'same' | 'valid';

function randomArray(size: number, rng: seedrandom.PRNG): Float32Array {
  return Float32Array.from({ length: size }, () => rng() * 2 - 1);
}

/** Runs one kernel on the named backend from plain arrays and returns its output values. */
async function runOn(backend: string, kernel: string, inputs: Record<string, { shape: Shape4; values: Float32Array }>, attrs: object) {
  await tf.setBackend(backend);
  const tensors = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, tf.tensor4d(v.values, v.shape)]));
  const out = tf.engine().runKernel(kernel, tensors, attrs as tf.NamedAttrMap) as tf.Tensor;
  const result = { shape: out.shape, values: await out.data() };
  tf.dispose([out, ...Object.values(tensors)]);
  return result;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

type Input = { shape: Shape4; values: Float32Array };

/**
 * Runs a conv kernel family's filter and input gradients (`${family}BackpropFilter` / `...Input`) on cpu
 * and wasm; checks shapes, values within 1e-4, and that wasm leaves no tensor or buffer behind. Returns the largest differences.
 */
async function expectGradientsMatchCpu(family: string, { x, dy, filter }: { x: Input; dy: Input; filter: Input }, attrs: object) {
  const filterAttrs = { ...attrs, filterShape: filter.shape };
  const inputAttrs = { ...attrs, inputShape: x.shape };
  const dwCpu = await runOn('cpu', `${family}BackpropFilter`, { x, dy }, filterAttrs);
  const dxCpu = await runOn('cpu', `${family}BackpropInput`, { dy, filter }, inputAttrs);
  await tf.setBackend('wasm');
  const tensorsBefore = tf.memory().numTensors;
  const dataBefore = tf.backend().numDataIds();
  const dwWasm = await runOn('wasm', `${family}BackpropFilter`, { x, dy }, filterAttrs);
  const dxWasm = await runOn('wasm', `${family}BackpropInput`, { dy, filter }, inputAttrs);
  expect(dwWasm.shape).toEqual(filter.shape);
  expect(dxWasm.shape).toEqual(x.shape);
  const [dwDiff, dxDiff] = [maxAbsDiff(dwWasm.values, dwCpu.values), maxAbsDiff(dxWasm.values, dxCpu.values)];
  expect(dwDiff).toBeLessThan(1e-4);
  expect(dxDiff).toBeLessThan(1e-4);
  // No tensor leaks, and every intermediate buffer inside the kernels was freed.
  expect(tf.memory().numTensors).toBe(tensorsBefore);
  expect(tf.backend().numDataIds()).toBe(dataBefore);
  return { dwDiff, dxDiff };
}

const cases: { k: number; stride: number; pad: Pad; size: number }[] = [];
for (const k of [1, 2, 3, 4, 5])
  for (const stride of [1, 2]) for (const pad of ['same', 'valid'] as const) for (const size of [7, 8]) cases.push({ k, stride, pad, size });

describe('wasm conv gradient kernels match the cpu backend', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it.each(cases)('k=$k stride=$stride pad=$pad input=$size', async ({ k, stride, pad, size }) => {
    const rng = seedrandom(`${k}-${stride}-${pad}-${size}`);
    const [batch, cin, cout] = [3, 4, 5];
    const xShape: Shape4 = [batch, size, size + 1, cin];
    const filterShape: Shape4 = [k, k, cin, cout];
    const info = tf.backend_util.computeConv2DInfo(xShape, filterShape, stride, 1, pad);
    const dyShape: Shape4 = [batch, info.outHeight, info.outWidth, cout];
    const x = {
      shape: xShape,
      values: randomArray(
        xShape.reduce((a, b) => a * b),
        rng,
      ),
    };
    const dy = {
      shape: dyShape,
      values: randomArray(
        dyShape.reduce((a, b) => a * b),
        rng,
      ),
    };
    const filter = {
      shape: filterShape,
      values: randomArray(
        filterShape.reduce((a, b) => a * b),
        rng,
      ),
    };
    const attrs = { strides: [stride, stride], pad, dataFormat: 'NHWC', dimRoundingMode: undefined };
    const { dwDiff, dxDiff } = await expectGradientsMatchCpu('Conv2D', { x, dy, filter }, attrs);
    if (process.env.AUTOPRUNE_VERBOSE)
      console.log(`k=${k} s=${stride} ${pad} ${size}: max |dW diff| ${dwDiff.toExponential(2)}, max |dx diff| ${dxDiff.toExponential(2)}`);
  });
});

describe('the 1x1 filter gradient on wasm', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  const random = (shape: Shape4, rng: seedrandom.PRNG): Input => ({
    shape,
    values: randomArray(
      shape.reduce((a, b) => a * b),
      rng,
    ),
  });
  const oneByOne: { name: string; size: [number, number]; stride: number; pad: 'same' | 'valid' | number | number[][]; rounding?: 'ceil' | 'round' }[] = [
    { name: 'stride 2, same, odd input', size: [7, 8], stride: 2, pad: 'same' },
    {
      name: 'explicit bottom and right padding (outputs that read only zeros)',
      size: [5, 5],
      stride: 1,
      pad: [
        [0, 0],
        [0, 1],
        [0, 1],
        [0, 0],
      ],
    },
    {
      name: 'explicit padding on every side, stride 2',
      size: [6, 5],
      stride: 2,
      pad: [
        [0, 0],
        [1, 2],
        [2, 1],
        [0, 0],
      ],
    },
    { name: 'numeric pad 0 rounded up', size: [4, 6], stride: 2, pad: 0, rounding: 'ceil' },
  ];

  it.each(oneByOne)('$name: matches cpu', async ({ size, stride, pad, rounding }) => {
    const rng = seedrandom(`1x1-${JSON.stringify(pad)}-${stride}`);
    const xShape: Shape4 = [3, size[0], size[1], 4];
    const filterShape: Shape4 = [1, 1, 4, 5];
    const info = tf.backend_util.computeConv2DInfo(xShape, filterShape, stride, 1, pad as 'same', rounding);
    const attrs = { strides: [stride, stride], pad, dataFormat: 'NHWC', dimRoundingMode: rounding };
    await expectGradientsMatchCpu(
      'Conv2D',
      { x: random(xShape, rng), dy: random([3, info.outHeight, info.outWidth, 5], rng), filter: random(filterShape, rng) },
      attrs,
    );
  });

  it('is one matrix product, not a conv with a kernel the size of the image', () => {
    // Inner kernel calls do not reach tf.profile: count them by wrapping the registered kernels.
    const calls = { Conv2D: 0, BatchMatMul: 0 };
    const stock = Object.keys(calls).map((name) => tf.getKernel(name, 'wasm')!);
    for (const kernel of stock) {
      tf.unregisterKernel(kernel.kernelName, 'wasm');
      tf.registerKernel({
        ...kernel,
        kernelFunc: (args) => {
          calls[kernel.kernelName as keyof typeof calls]++;
          return kernel.kernelFunc(args);
        },
      });
    }
    try {
      const x = tf.randomUniform([2, 8, 8, 4], -1, 1, 'float32', 1);
      const dy = tf.randomUniform([2, 4, 4, 6], -1, 1, 'float32', 2);
      tf.dispose(tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: [2, 2], pad: 'same', dataFormat: 'NHWC', filterShape: [1, 1, 4, 6] }));
      tf.dispose([x, dy]);
    } finally {
      for (const kernel of stock) {
        tf.unregisterKernel(kernel.kernelName, 'wasm');
        tf.registerKernel(kernel);
      }
    }
    expect(calls).toEqual({ Conv2D: 0, BatchMatMul: 1 });
  });
});

// Dilation 1 only: tfjs computes no gradient of a dilated depthwise conv.
const depthwiseCases: { k: number; multiplier: number; stride: number; pad: Pad }[] = [];
for (const k of [1, 3, 5])
  for (const multiplier of [1, 2])
    for (const stride of [1, 2]) for (const pad of ['same', 'valid'] as const) depthwiseCases.push({ k, multiplier, stride, pad });

describe('wasm depthwise conv gradient kernels match the cpu backend', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it.each(depthwiseCases)('k=$k multiplier=$multiplier stride=$stride pad=$pad', async ({ k, multiplier, stride, pad }) => {
    const rng = seedrandom(`dw-${k}-${multiplier}-${stride}-${pad}`);
    const [batch, channels] = [3, 4];
    const xShape: Shape4 = [batch, 9, 8, channels];
    const filterShape: Shape4 = [k, k, channels, multiplier];
    const info = tf.backend_util.computeConv2DInfo(xShape, filterShape, stride, 1, pad, undefined, true);
    const dyShape: Shape4 = [batch, info.outHeight, info.outWidth, channels * multiplier];
    const x = {
      shape: xShape,
      values: randomArray(
        xShape.reduce((a, b) => a * b),
        rng,
      ),
    };
    const dy = {
      shape: dyShape,
      values: randomArray(
        dyShape.reduce((a, b) => a * b),
        rng,
      ),
    };
    const filter = {
      shape: filterShape,
      values: randomArray(
        filterShape.reduce((a, b) => a * b),
        rng,
      ),
    };
    await expectGradientsMatchCpu(
      'DepthwiseConv2dNative',
      { x, dy, filter },
      { strides: [stride, stride], dilations: [1, 1], pad, dimRoundingMode: undefined },
    );
  });

  it('trains a separable and a depthwise conv layer: the same gradients as cpu through tf.grads', async () => {
    const rng = seedrandom('dw-layers');
    const input = tf.input({ shape: [10, 10, 3] });
    let y = tf.layers
      .depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, strides: 2, padding: 'same', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) })
      .apply(input) as tf.SymbolicTensor;
    y = tf.layers
      .separableConv2d({
        filters: 5,
        kernelSize: 3,
        padding: 'valid',
        depthwiseInitializer: tf.initializers.glorotUniform({ seed: 2 }),
        pointwiseInitializer: tf.initializers.glorotUniform({ seed: 3 }),
      })
      .apply(y) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: tf.layers.globalAveragePooling2d({}).apply(y) as tf.SymbolicTensor });
    const xs = randomArray(4 * 10 * 10 * 3, rng);
    const gradsOn = async (backend: string) => {
      await tf.setBackend(backend);
      const x = tf.tensor4d(xs, [4, 10, 10, 3]);
      const { grads } = tf.variableGrads(() => tf.sum(tf.square(model.apply(x) as tf.Tensor)) as tf.Scalar);
      const values = await Promise.all(Object.values(grads).map((g) => g.data()));
      tf.dispose([x, ...Object.values(grads)]);
      return values;
    };
    const onCpu = await gradsOn('cpu');
    const onWasm = await gradsOn('wasm');
    expect(onWasm).toHaveLength(5); // depthwise kernel and bias, separable depthwise and pointwise kernels and bias
    onWasm.forEach((g, i) => expect(maxAbsDiff(g, onCpu[i])).toBeLessThan(1e-4));
    model.dispose();
  });
});

describe('a conv layer trains on wasm', () => {
  it('gives the same gradients as cpu through tf.grads, with no leaks', async () => {
    const rng = seedrandom('grads');
    const xValues = randomArray(2 * 9 * 9 * 3, rng);
    const wValues = randomArray(3 * 3 * 3 * 6, rng);
    async function gradsOn(backend: string) {
      await tf.setBackend(backend);
      const x = tf.tensor4d(xValues, [2, 9, 9, 3]);
      const w = tf.tensor4d(wValues, [3, 3, 3, 6]);
      const tensorsBefore = tf.memory().numTensors;
      const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf
          .conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same')
          .square()
          .sum(),
      )([x, w]);
      const values = [await dx.data(), await dw.data()];
      tf.dispose([dx, dw]);
      expect(tf.memory().numTensors).toBe(tensorsBefore);
      tf.dispose([x, w]);
      return values;
    }
    const [dxCpu, dwCpu] = await gradsOn('cpu');
    const [dxWasm, dwWasm] = await gradsOn('wasm');
    expect(maxAbsDiff(dxWasm, dxCpu)).toBeLessThan(1e-3);
    expect(maxAbsDiff(dwWasm, dwCpu)).toBeLessThan(1e-3);
  });
});

const poolCases: { k: number; stride: number; pad: Pad; size: number; batch: number }[] = [];
for (const k of [2, 3])
  for (const stride of [1, 2, 3]) for (const pad of ['same', 'valid'] as const) for (const size of [6, 7]) poolCases.push({ k, stride, pad, size, batch: 2 });
// Seven images in 5 blocks of uneven size (heap-blocks.ts).
poolCases.push({ k: 2, stride: 2, pad: 'same', size: 63, batch: 7 });

describe('wasm MaxPoolGrad matches the cpu backend', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it.each(poolCases)('k=$k stride=$stride pad=$pad input=$size batch=$batch', async ({ k, stride, pad, size, batch }) => {
    const rng = seedrandom(`pool-${k}-${stride}-${pad}-${size}`);
    const xShape: Shape4 = [batch, size, size + 1, 3];
    const info = tf.backend_util.computePool2DInfo(xShape, [k, k], [stride, stride], 1, pad);
    const dyShape: Shape4 = [batch, info.outHeight, info.outWidth, 3];
    const input = {
      shape: xShape,
      values: randomArray(
        xShape.reduce((a, b) => a * b),
        rng,
      ),
    };
    const dy = {
      shape: dyShape,
      values: randomArray(
        dyShape.reduce((a, b) => a * b),
        rng,
      ),
    };
    // The kernel's `output` input (the forward result) is unused by both backends' gradients.
    const output = { shape: dyShape, values: new Float32Array(dyShape.reduce((a, b) => a * b)) };
    const attrs = { filterSize: [k, k], strides: [stride, stride], pad, dimRoundingMode: undefined };
    const cpu = await runOn('cpu', 'MaxPoolGrad', { dy, input, output }, attrs);
    await tf.setBackend('wasm');
    const dataBefore = tf.backend().numDataIds();
    const wasm = await runOn('wasm', 'MaxPoolGrad', { dy, input, output }, attrs);
    expect(wasm.shape).toEqual(xShape);
    expect(maxAbsDiff(wasm.values, cpu.values)).toBeLessThan(1e-6);
    expect(tf.backend().numDataIds()).toBe(dataBefore);
  });
});

describe('wasm Sum and Mean over leading axes match the cpu backend', () => {
  const reductions = [
    { kernel: 'Sum', axis: [0, 1, 2], keepDims: false },
    { kernel: 'Sum', axis: [0], keepDims: true },
    { kernel: 'Mean', axis: [0, 1, 2], keepDims: true },
    { kernel: 'Mean', axis: [0, 1], keepDims: false },
    { kernel: 'Sum', axis: [1, 2], keepDims: false }, // not leading: the stock kernel
    { kernel: 'Sum', axis: [0, 1, 2], keepDims: false, shape: [9, 31, 29, 17] as Shape4 }, // in 8 blocks (heap-blocks.ts)
  ];
  it.each(reductions)('$kernel over $axis keepDims=$keepDims', async ({ kernel, axis, keepDims, shape = [5, 6, 7, 3] as Shape4 }) => {
    const rng = seedrandom(`${kernel}-${axis.join()}`);
    const x = {
      shape,
      values: randomArray(
        shape.reduce((a, b) => a * b),
        rng,
      ),
    };
    const cpu = await runOn('cpu', kernel, { x }, { axis, keepDims });
    const wasm = await runOn('wasm', kernel, { x }, { axis, keepDims });
    expect(wasm.shape).toEqual(cpu.shape);
    expect(maxAbsDiff(wasm.values, cpu.values)).toBeLessThan(1e-4);
  });
});

describe('the relu6 activation on wasm', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it('runs as one kernel each way and gives the values and gradient of the stock minimum(6, relu(x)), with no leaks', async () => {
    // Not for a NaN input (a diverged model): stock wasm gives 6 or NaN and a NaN gradient, the fused pair 0 and 0.
    const [x, dy] = [tf.tensor1d([-3, -0, 0, 0.5, 5.999, 6, 6.001, 9, 7, 2]), tf.tensor1d([1, -2, 3, -4, 5, -6, 7, -8, 9, Number.NaN])];
    const valueAndGrad = async (activation: (input: tf.Tensor) => tf.Tensor) => {
      const before = tf.memory().numTensors;
      const { value, grad } = tf.valueAndGrad((input: tf.Tensor) => tf.sum(tf.mul(activation(input), dy)))(x);
      const y = tf.tidy(() => activation(x));
      // + 0 makes -0 into 0: the stock clipByValue gradient gives +0 where dy * 0 gives -0, which no weight update can tell apart.
      const result = [Array.from(await y.data()), Array.from(await grad.data(), (g) => g + 0)];
      tf.dispose([value, grad, y]);
      expect(tf.memory().numTensors).toBe(before);
      return result;
    };
    // The two forms in tfjs-layers, each against the stock formula it replaces (their gradients differ at x = 6).
    const forms = [
      { layer: tf.layers.activation({ activation: 'relu6' }), stock: (input: tf.Tensor) => tf.minimum(6, tf.relu(input)), stockKernel: 'Minimum' },
      { layer: tf.layers.reLU({ maxValue: 6 }), stock: (input: tf.Tensor) => tf.clipByValue(tf.relu(input), 0, 6), stockKernel: 'ClipByValue' },
    ];
    for (const { layer, stock, stockKernel } of forms) {
      const profile = await tf.profile(() => valueAndGrad((input) => layer.apply(input) as tf.Tensor));
      const kernels = profile.kernels.map((k) => k.name);
      expect(kernels).toContain('AutopruneRelu6Grad');
      expect(kernels).not.toContain(stockKernel);
      expect(await valueAndGrad((input) => layer.apply(input) as tf.Tensor)).toEqual(await valueAndGrad(stock));
    }
    tf.dispose([x, dy]);
  });

  it('gives the stock gradient on a tensor large enough to be cut into blocks (heap-blocks.ts)', async () => {
    const rng = seedrandom('relu6-blocks');
    const size = 70_001;
    const x = tf.tensor1d(Float32Array.from({ length: size }, () => rng() * 10 - 2));
    const dy = tf.tensor1d(Float32Array.from({ length: size }, () => rng() * 2 - 1));
    const gradOf = (activation: (input: tf.Tensor) => tf.Tensor) => tf.grad((input: tf.Tensor) => tf.sum(tf.mul(activation(input), dy)))(x);
    const fused = gradOf((input) => tf.layers.activation({ activation: 'relu6' }).apply(input) as tf.Tensor);
    const stock = gradOf((input) => tf.minimum(6, tf.relu(input)));
    expect(Array.from(await fused.data(), (g) => g + 0)).toEqual(Array.from(await stock.data(), (g) => g + 0));
    tf.dispose([x, dy, fused, stock]);
  });
});
