/**
 * The CNNs autoprune ships, as TF.js layers models (serialisable with model.save).
 *
 * Every initializer is seeded from one model seed, so the same seed builds the
 * same weights. No dropout: tfjs draws dropout masks from an unseeded
 * generator, which would break run-to-run reproducibility.
 */
import * as tf from '@tensorflow/tfjs';
import { ModelError } from '../errors.js';

export const ZOO_NAMES = ['lenet5', 'vgg-small', 'resnet-small', 'mobilenet-small', 'mobilenetv2'] as const;
/** A zoo name; `mobilenetv2-<alpha>` is MobileNetV2 at that width multiplier (`mobilenetv2` is alpha 1.0, as in Keras). */
export type ZooName = (typeof ZOO_NAMES)[number] | `mobilenetv2-${number}`;
/** How the zoo's names read in messages: the list, with the width multiplier's form. */
export const ZOO_NAMES_TEXT = `${ZOO_NAMES.join(', ')}, mobilenetv2-<alpha> (0.35, 0.5, 0.75, 1.3, ...)`;

export interface ZooOptions {
  inputShape: [number, number, number];
  numClasses: number;
  seed: number;
}

/**
 * Hands each layer its own initializer seed, derived from the model seed.
 * Never 0: tfjs treats a seed of 0 as "no seed" and draws from Math.random.
 */
class Seeds {
  private next = 1;
  constructor(private readonly base: number) {}
  heNormal() {
    return tf.initializers.heNormal({ seed: this.base * 1009 + this.next++ });
  }
  glorotUniform() {
    return tf.initializers.glorotUniform({ seed: this.base * 1009 + this.next++ });
  }
  /**
   * He normal for a depthwise kernel of `channels` channels: tfjs counts its
   * fan-in as kh x kw x channels where each output sees kh x kw inputs, so
   * heNormal's variance is `channels` times too small and a deep stack of
   * them fades to zero before BatchNorm has statistics.
   */
  depthwiseHeNormal(channels: number) {
    return tf.initializers.varianceScaling({ scale: 2 * channels, mode: 'fanIn', distribution: 'normal', seed: this.base * 1009 + this.next++ });
  }
}

/** Caffe LeNet-5 as used by the pruning literature (431K parameters), with ReLU after every hidden layer. */
function lenet5({ inputShape, numClasses, seed }: ZooOptions): tf.LayersModel {
  const s = new Seeds(seed);
  return tf.sequential({
    name: 'lenet5',
    layers: [
      tf.layers.conv2d({ name: 'conv1', inputShape, filters: 20, kernelSize: 5, activation: 'relu', kernelInitializer: s.heNormal() }),
      tf.layers.maxPooling2d({ name: 'pool1', poolSize: 2 }),
      tf.layers.conv2d({ name: 'conv2', filters: 50, kernelSize: 5, activation: 'relu', kernelInitializer: s.heNormal() }),
      tf.layers.maxPooling2d({ name: 'pool2', poolSize: 2 }),
      tf.layers.flatten({ name: 'flatten' }),
      tf.layers.dense({ name: 'fc1', units: 500, activation: 'relu', kernelInitializer: s.heNormal() }),
      tf.layers.dense({ name: 'fc2', units: numClasses, activation: 'softmax', kernelInitializer: s.glorotUniform() }),
    ],
  });
}

/** conv-BN-ReLU blocks 32-32-pool-64-64-pool-128-128-pool, then flatten -> dense 256 -> dense classes. */
function vggSmall({ inputShape, numClasses, seed }: ZooOptions): tf.LayersModel {
  const s = new Seeds(seed);
  const layers: tf.layers.Layer[] = [];
  let block = 0;
  for (const filters of [32, 64, 128]) {
    block++;
    for (const part of ['a', 'b']) {
      const name = `block${block}${part}`;
      layers.push(
        tf.layers.conv2d({
          name: `${name}_conv`,
          ...(layers.length === 0 ? { inputShape } : {}),
          filters,
          kernelSize: 3,
          padding: 'same',
          useBias: false,
          kernelInitializer: s.heNormal(),
        }),
        tf.layers.batchNormalization({ name: `${name}_bn` }),
        tf.layers.activation({ name: `${name}_relu`, activation: 'relu' }),
      );
    }
    layers.push(tf.layers.maxPooling2d({ name: `block${block}_pool`, poolSize: 2 }));
  }
  layers.push(
    tf.layers.flatten({ name: 'flatten' }),
    tf.layers.dense({ name: 'fc1', units: 256, activation: 'relu', kernelInitializer: s.heNormal() }),
    tf.layers.dense({ name: 'fc2', units: numClasses, activation: 'softmax', kernelInitializer: s.glorotUniform() }),
  );
  return tf.sequential({ name: 'vgg_small', layers });
}

/** The stem of resnet-small and mobilenet-small: a 3x3 conv of 16 without bias, BatchNorm, the activation. */
function stem(input: tf.SymbolicTensor, activation: 'relu' | 'relu6', s: Seeds): tf.SymbolicTensor {
  const conv = tf.layers.conv2d({ name: 'stem_conv', filters: 16, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: s.heNormal() });
  const x = tf.layers.batchNormalization({ name: 'stem_bn' }).apply(conv.apply(input)) as tf.SymbolicTensor;
  return tf.layers.activation({ name: 'stem_relu', activation }).apply(x) as tf.SymbolicTensor;
}

/** A basic residual block; a 1x1 projection shortcut when the shape changes. */
function basicBlock(input: tf.SymbolicTensor, filters: number, stride: number, name: string, s: Seeds): tf.SymbolicTensor {
  const conv = (x: tf.SymbolicTensor, k: number, st: number, suffix: string) =>
    tf.layers
      .conv2d({ name: `${name}_${suffix}`, filters, kernelSize: k, strides: st, padding: 'same', useBias: false, kernelInitializer: s.heNormal() })
      .apply(x) as tf.SymbolicTensor;
  const bn = (x: tf.SymbolicTensor, suffix: string) => tf.layers.batchNormalization({ name: `${name}_${suffix}` }).apply(x) as tf.SymbolicTensor;
  const relu = (x: tf.SymbolicTensor, suffix: string) => tf.layers.activation({ name: `${name}_${suffix}`, activation: 'relu' }).apply(x) as tf.SymbolicTensor;

  let y = relu(bn(conv(input, 3, stride, 'conv1'), 'bn1'), 'relu1');
  y = bn(conv(y, 3, 1, 'conv2'), 'bn2');
  const inChannels = input.shape[input.shape.length - 1];
  const shortcut = stride !== 1 || inChannels !== filters ? bn(conv(input, 1, stride, 'proj'), 'proj_bn') : input;
  const sum = tf.layers.add({ name: `${name}_add` }).apply([y, shortcut]) as tf.SymbolicTensor;
  return relu(sum, 'relu2');
}

/** ResNet-style: stem 16, stages of 16 (identity), 32 (projection + identity), 64 (projection); global pooling. */
function resnetSmall({ inputShape, numClasses, seed }: ZooOptions): tf.LayersModel {
  const s = new Seeds(seed);
  const input = tf.input({ shape: inputShape, name: 'input' });
  let x = stem(input, 'relu', s);
  x = basicBlock(x, 16, 1, 'stage1_block1', s);
  x = basicBlock(x, 32, 2, 'stage2_block1', s);
  x = basicBlock(x, 32, 1, 'stage2_block2', s);
  x = basicBlock(x, 64, 2, 'stage3_block1', s);
  x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tf.SymbolicTensor;
  const output = tf.layers.dense({ name: 'fc', units: numClasses, activation: 'softmax', kernelInitializer: s.glorotUniform() }).apply(x) as tf.SymbolicTensor;
  return tf.model({ name: 'resnet_small', inputs: input, outputs: output });
}

/**
 * MobileNetV2's inverted residual block: a 1x1 expansion (t x the input
 * channels), a 3x3 depthwise conv, a linear 1x1 projection, each with
 * BatchNorm, ReLU6 after the first two; an identity shortcut when the shape
 * is unchanged. With t = 1 there is no expansion.
 */
function invertedResidual(input: tf.SymbolicTensor, expansion: number, filters: number, stride: number, name: string, s: Seeds): tf.SymbolicTensor {
  const inChannels = input.shape[input.shape.length - 1] as number;
  const bn = (x: tf.SymbolicTensor, suffix: string) => tf.layers.batchNormalization({ name: `${name}_${suffix}` }).apply(x) as tf.SymbolicTensor;
  const relu6 = (x: tf.SymbolicTensor, suffix: string) =>
    tf.layers.activation({ name: `${name}_${suffix}`, activation: 'relu6' }).apply(x) as tf.SymbolicTensor;
  const pointwise = (x: tf.SymbolicTensor, n: number, suffix: string) =>
    tf.layers.conv2d({ name: `${name}_${suffix}`, filters: n, kernelSize: 1, useBias: false, kernelInitializer: s.heNormal() }).apply(x) as tf.SymbolicTensor;
  let y = expansion === 1 ? input : relu6(bn(pointwise(input, inChannels * expansion, 'expand'), 'expand_bn'), 'expand_relu');
  y = tf.layers
    .depthwiseConv2d({ name: `${name}_depthwise`, kernelSize: 3, strides: stride, padding: 'same', useBias: false, depthwiseInitializer: s.heNormal() })
    .apply(y) as tf.SymbolicTensor;
  y = relu6(bn(y, 'depthwise_bn'), 'depthwise_relu');
  y = bn(pointwise(y, filters, 'project'), 'project_bn');
  return stride === 1 && inChannels === filters ? (tf.layers.add({ name: `${name}_add` }).apply([input, y]) as tf.SymbolicTensor) : y;
}

/** MobileNetV2-style (Sandler et al. 2018), sized for 28-32 pixel images: stem 16, five inverted residual blocks, a 1x1 conv of 128, global pooling. */
function mobilenetSmall({ inputShape, numClasses, seed }: ZooOptions): tf.LayersModel {
  const s = new Seeds(seed);
  const input = tf.input({ shape: inputShape, name: 'input' });
  let x = stem(input, 'relu6', s);
  // (expansion, output channels, stride), as MobileNetV2's table with fewer, narrower blocks.
  const blocks: [number, number, number][] = [
    [1, 16, 1],
    [4, 24, 2],
    [4, 24, 1],
    [4, 32, 2],
    [4, 32, 1],
  ];
  blocks.forEach(([t, c, stride], i) => (x = invertedResidual(x, t, c, stride, `block${i + 1}`, s)));
  x = tf.layers.conv2d({ name: 'head_conv', filters: 128, kernelSize: 1, useBias: false, kernelInitializer: s.heNormal() }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'head_bn' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.activation({ name: 'head_relu', activation: 'relu6' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tf.SymbolicTensor;
  const output = tf.layers.dense({ name: 'fc', units: numClasses, activation: 'softmax', kernelInitializer: s.glorotUniform() }).apply(x) as tf.SymbolicTensor;
  return tf.model({ name: 'mobilenet_small', inputs: input, outputs: output });
}

/**
 * Keras's `_make_divisible`: `v` rounded to the nearest multiple of `divisor`
 * (at least `divisor`), one step up if rounding lost more than 10%.
 */
export function makeDivisible(v: number, divisor = 8): number {
  const rounded = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor);
  return rounded < 0.9 * v ? rounded + divisor : rounded;
}

/** Keras's `correct_pad` for a 3x3 kernel: the zero padding before a stride-2 depthwise conv ((top, bottom), (left, right)). */
function correctPad(x: tf.SymbolicTensor): [[number, number], [number, number]] {
  const [height, width] = x.shape.slice(1, 3) as (number | null)[];
  const adjust = (size: number | null) => (size === null ? 1 : 1 - (size % 2));
  return [
    [1 - adjust(height), 1],
    [1 - adjust(width), 1],
  ];
}

/** MobileNetV2's (expansion t, output channels c, stride s) per block, blocks 0-16, as in Keras (Sandler et al. 2018, table 2). */
const MOBILENETV2_BLOCKS: [number, number, number][] = [
  [1, 16, 1],
  [6, 24, 2],
  [6, 24, 1],
  [6, 32, 2],
  [6, 32, 1],
  [6, 32, 1],
  [6, 64, 2],
  [6, 64, 1],
  [6, 64, 1],
  [6, 64, 1],
  [6, 96, 1],
  [6, 96, 1],
  [6, 96, 1],
  [6, 160, 2],
  [6, 160, 1],
  [6, 160, 1],
  [6, 320, 1],
];

/**
 * MobileNetV2 as `keras.applications.MobileNetV2` builds it (Keras 3,
 * applications/mobilenet_v2.py): the same layers in the same order with the
 * same names, padding and widths (`alpha` the width multiplier): Conv1
 * (stride 2, same padding), 17 inverted residual blocks (1x1 expand, ReLU6;
 * ZeroPadding2D before a strided 3x3 depthwise; 1x1 linear project; Add when
 * the shape is unchanged), Conv_1 of 1280 (more above alpha 1), global
 * average pooling and a softmax `predictions` layer of numClasses. BatchNorm
 * as Keras sets it (epsilon 1e-3, momentum 0.999). Any input size.
 */
function mobilenetV2(alpha: number, { inputShape, numClasses, seed }: ZooOptions): tf.LayersModel {
  const s = new Seeds(seed);
  const bn = (x: tf.SymbolicTensor, name: string) => tf.layers.batchNormalization({ name, epsilon: 1e-3, momentum: 0.999 }).apply(x) as tf.SymbolicTensor;
  const relu6 = (x: tf.SymbolicTensor, name: string) => tf.layers.reLU({ name, maxValue: 6 }).apply(x) as tf.SymbolicTensor;
  const pointwise = (x: tf.SymbolicTensor, filters: number, name: string) =>
    tf.layers.conv2d({ name, filters, kernelSize: 1, padding: 'same', useBias: false, kernelInitializer: s.heNormal() }).apply(x) as tf.SymbolicTensor;
  const input = tf.input({ shape: inputShape, name: 'input_layer' });
  let x = tf.layers
    .conv2d({ name: 'Conv1', filters: makeDivisible(32 * alpha), kernelSize: 3, strides: 2, padding: 'same', useBias: false, kernelInitializer: s.heNormal() })
    .apply(input) as tf.SymbolicTensor;
  x = relu6(bn(x, 'bn_Conv1'), 'Conv1_relu');
  MOBILENETV2_BLOCKS.forEach(([expansion, filters, stride], id) => {
    const inChannels = x.shape[3] as number;
    const outChannels = makeDivisible(Math.trunc(filters * alpha));
    const prefix = id === 0 ? 'expanded_conv_' : `block_${id}_`;
    let y = id === 0 ? x : relu6(bn(pointwise(x, expansion * inChannels, `${prefix}expand`), `${prefix}expand_BN`), `${prefix}expand_relu`);
    if (stride === 2) y = tf.layers.zeroPadding2d({ name: `${prefix}pad`, padding: correctPad(y) }).apply(y) as tf.SymbolicTensor;
    y = tf.layers
      .depthwiseConv2d({
        name: `${prefix}depthwise`,
        kernelSize: 3,
        strides: stride,
        padding: stride === 1 ? 'same' : 'valid',
        useBias: false,
        depthwiseInitializer: s.depthwiseHeNormal(y.shape[3] as number),
      })
      .apply(y) as tf.SymbolicTensor;
    y = relu6(bn(y, `${prefix}depthwise_BN`), `${prefix}depthwise_relu`);
    y = bn(pointwise(y, outChannels, `${prefix}project`), `${prefix}project_BN`);
    x = inChannels === outChannels && stride === 1 ? (tf.layers.add({ name: `${prefix}add` }).apply([x, y]) as tf.SymbolicTensor) : y;
  });
  x = pointwise(x, alpha > 1 ? makeDivisible(1280 * alpha) : 1280, 'Conv_1');
  x = relu6(bn(x, 'Conv_1_bn'), 'out_relu');
  x = tf.layers.globalAveragePooling2d({ name: 'global_average_pooling2d' }).apply(x) as tf.SymbolicTensor;
  const output = tf.layers
    .dense({ name: 'predictions', units: numClasses, activation: 'softmax', kernelInitializer: s.glorotUniform() })
    .apply(x) as tf.SymbolicTensor;
  return tf.model({ name: `mobilenetv2_${alpha.toFixed(2)}_${inputShape[0]}`, inputs: input, outputs: output });
}

const BUILDERS: Record<(typeof ZOO_NAMES)[number], (o: ZooOptions) => tf.LayersModel> = {
  lenet5,
  'vgg-small': vggSmall,
  'resnet-small': resnetSmall,
  'mobilenet-small': mobilenetSmall,
  mobilenetv2: (o) => mobilenetV2(1, o),
};

/** The width multiplier of a `mobilenetv2-<alpha>` name (0 < alpha <= 2), or undefined for any other name. */
function mobilenetV2Alpha(name: string): number | undefined {
  const match = /^mobilenetv2-(\d+(?:\.\d+)?)$/.exec(name);
  const alpha = match === null ? NaN : Number(match[1]);
  return alpha > 0 && alpha <= 2 ? alpha : undefined;
}

export function isZooName(name: string): name is ZooName {
  return (ZOO_NAMES as readonly string[]).includes(name) || mobilenetV2Alpha(name) !== undefined;
}

export function buildZooModel(name: string, options: ZooOptions): tf.LayersModel {
  const alpha = mobilenetV2Alpha(name);
  if (alpha !== undefined) return mobilenetV2(alpha, options);
  if (!(ZOO_NAMES as readonly string[]).includes(name))
    throw new ModelError(`unknown model "${name}"; choose one of ${ZOO_NAMES_TEXT} or give a path to a model.json`);
  return BUILDERS[name as (typeof ZOO_NAMES)[number]](options);
}
