/**
 * One place per layer type: everything autoprune knows about a Keras / TF.js
 * layer class. The dependency graph reads how channels pass through it
 * (`kind`), surgery which weight axes follow which channels (`rule`), the
 * metrics its cost (`macs`), the criteria where its output channels are
 * (`outputKernel`) and where to read its activations (`rearranges`),
 * candidate recovery whether it can be refitted by least squares as a
 * consumer (`refit`), and the graph, the criteria, recovery and training
 * whether it normalises each channel with moving statistics
 * (`normalization`). Adding a layer type is one entry
 * here (or `registerLayerType`) and its coupling test.
 */
import type * as tf from '@tensorflow/tfjs';
import { layerWeight } from '../models/weights.js';

export interface ChannelRef {
  space: number;
  index: number;
}

/**
 * How a layer relates to channels: `producer` opens a space (its filters or
 * units); `depthwise` and `passthrough` hand their input's channels on;
 * `flatten` repeats them per position; `merge` unites its inputs' spaces (a
 * residual add); `concat` joins them.
 */
export type LayerKind = 'input' | 'producer' | 'depthwise' | 'passthrough' | 'flatten' | 'merge' | 'concat';

export interface LayerNode {
  name: string;
  className: string;
  kind: LayerKind;
  layer: tf.layers.Layer;
  /** Names of the layers feeding this one, in input order. */
  inputs: string[];
  /** Channel references of each input's last axis. */
  inputRefs: ChannelRef[][];
  /** Channel references of the output's last axis. */
  outputRefs: ChannelRef[];
}

/** For each weight (by its name inside the layer), the channel references along each pruned axis. */
export type WeightAxes = Record<string, Record<number, ChannelRef[]>>;

export interface LayerRule {
  axes: WeightAxes;
  /** The config field holding the output channel count, and the references it counts. */
  resize?: { field: 'filters' | 'units'; refs: ChannelRef[] };
}

export interface LayerType {
  kind: LayerKind;
  /** Surgery: which axes of which weights follow which channels. Absent: no per-channel weights. */
  rule?: (node: LayerNode) => LayerRule;
  /** Multiply-accumulates for one image, from the layer and its output shape [batch, ..., channels]. Absent: 0. */
  macs?: (layer: tf.layers.Layer, outputShape: (number | null)[]) => number;
  /** The weight holding a producer's output channels on its last axis (what weight criteria read). */
  outputKernel?: string;
  /** Candidate recovery may refit it as a consumer by least squares on its input, read as a dense or a conv layer does. */
  refit?: 'dense' | 'conv';
  /** It only moves or subsamples activations (pooling, flatten, dropout, padding): criteria that read a group's activations walk back through it. */
  rearranges?: boolean;
  /** It normalises each channel (of the last axis) by moving statistics and scales it (a BatchNorm): see Normalization. */
  normalization?: Normalization;
}

/**
 * The weights of a per-channel normalisation, by name inside the layer.
 * Candidate recovery and fine-tuning re-estimate its moving statistics on
 * images (adaptive BatchNorm, `batchNormImages`), the bn-scale criterion
 * reads |scale|, and the graph refuses one over any axis but the last.
 */
export interface Normalization {
  scale: string;
  movingMean: string;
  movingVariance: string;
}

const product = (xs: (number | null)[]) => xs.reduce((a: number, b) => a * (b ?? 1), 1);
/** Spatial positions of an output (1 for a dense layer on a vector). */
const positions = (outputShape: (number | null)[]) => product(outputShape.slice(1, -1));
const repeatEach = (refs: ChannelRef[], times: number) => refs.flatMap((r) => Array.from({ length: times }, () => r));

export function weightShape(layer: tf.layers.Layer, key: string): number[] {
  const variable = layerWeight(layer, key);
  if (variable === undefined) throw new Error(`layer "${layer.name}" has no ${key}`);
  return variable.shape as number[];
}

const passthrough: LayerType = { kind: 'passthrough' };
const rearranging: LayerType = { kind: 'passthrough', rearranges: true };

const LAYER_TYPES: Record<string, LayerType> = {
  InputLayer: { kind: 'input' },
  Conv2D: {
    kind: 'producer',
    rule: ({ inputRefs: [input], outputRefs: out }) => ({ axes: { kernel: { 2: input, 3: out }, bias: { 0: out } }, resize: { field: 'filters', refs: out } }),
    macs: (layer, out) => {
      const [kh, kw, cin, cout] = weightShape(layer, 'kernel');
      return positions(out) * cout * kh * kw * cin;
    },
    outputKernel: 'kernel',
    refit: 'conv',
  },
  Dense: {
    kind: 'producer',
    rule: ({ inputRefs: [input], outputRefs: out }) => ({ axes: { kernel: { 0: input, 1: out }, bias: { 0: out } }, resize: { field: 'units', refs: out } }),
    macs: (layer, out) => {
      const [cin, cout] = weightShape(layer, 'kernel');
      return positions(out) * cin * cout;
    },
    outputKernel: 'kernel',
    refit: 'dense',
  },
  SeparableConv2D: {
    kind: 'producer',
    rule: ({ layer, inputRefs: [input], outputRefs: out }) => {
      const multiplier = (layer.getConfig() as { depthMultiplier?: number }).depthMultiplier ?? 1;
      return {
        axes: { depthwise_kernel: { 2: input }, pointwise_kernel: { 2: repeatEach(input, multiplier), 3: out }, bias: { 0: out } },
        resize: { field: 'filters', refs: out },
      };
    },
    macs: (layer, out) => {
      const [kh, kw, cin, multiplier] = weightShape(layer, 'depthwise_kernel');
      const [, , mid, cout] = weightShape(layer, 'pointwise_kernel');
      return positions(out) * (cin * multiplier * kh * kw + mid * cout);
    },
    outputKernel: 'pointwise_kernel',
  },
  DepthwiseConv2D: {
    kind: 'depthwise',
    rule: ({ inputRefs: [input], outputRefs: out }) => ({ axes: { depthwise_kernel: { 2: input }, bias: { 0: out } } }),
    macs: (layer, out) => {
      const [kh, kw, cin, multiplier] = weightShape(layer, 'depthwise_kernel');
      return positions(out) * cin * multiplier * kh * kw;
    },
  },
  BatchNormalization: {
    kind: 'passthrough',
    rule: ({ inputRefs: [input] }) => ({ axes: { gamma: { 0: input }, beta: { 0: input }, moving_mean: { 0: input }, moving_variance: { 0: input } } }),
    normalization: { scale: 'gamma', movingMean: 'moving_mean', movingVariance: 'moving_variance' },
  },
  Activation: passthrough,
  ReLU: passthrough,
  LeakyReLU: passthrough,
  ELU: passthrough,
  ThresholdedReLU: passthrough,
  Dropout: rearranging,
  SpatialDropout1D: rearranging,
  GaussianNoise: rearranging,
  GaussianDropout: rearranging,
  AlphaDropout: rearranging,
  MaxPooling2D: rearranging,
  AveragePooling2D: rearranging,
  GlobalAveragePooling2D: rearranging,
  GlobalMaxPooling2D: rearranging,
  ZeroPadding2D: rearranging,
  Cropping2D: rearranging,
  UpSampling2D: rearranging,
  Flatten: { kind: 'flatten', rearranges: true },
  Add: { kind: 'merge' },
  Multiply: { kind: 'merge' },
  Average: { kind: 'merge' },
  Maximum: { kind: 'merge' },
  Minimum: { kind: 'merge' },
  Subtract: { kind: 'merge' },
  Concatenate: { kind: 'concat' },
};

/** What autoprune knows about a layer class, or undefined for a class it cannot trace. */
export function layerType(className: string): LayerType | undefined {
  return LAYER_TYPES[className];
}

/**
 * Teaches autoprune a layer class (a custom layer, or a built-in it does not
 * know yet); replaces what it knew. Add a coupling test with it: the pruned
 * model must equal the original with the removed channels zeroed.
 */
export function registerLayerType(className: string, type: LayerType): void {
  LAYER_TYPES[className] = type;
}

/** The layer's per-channel normalisation (a BatchNorm), or undefined. */
export function normalizationOf(layer: tf.layers.Layer): Normalization | undefined {
  return layerType(layer.getClassName())?.normalization;
}

/** Writes a normalisation layer's moving statistics (one value per channel). */
export function writeMovingStatistics(layer: tf.layers.Layer, mean: tf.Tensor, variance: tf.Tensor): void {
  const normalization = normalizationOf(layer);
  if (normalization === undefined) throw new Error(`layer "${layer.name}" (${layer.getClassName()}) has no moving statistics`);
  layerWeight(layer, normalization.movingMean)!.write(mean);
  layerWeight(layer, normalization.movingVariance)!.write(variance);
}

/** The weight that holds a producer's output channels on its last axis. */
export function outputKernel(layer: tf.layers.Layer): tf.LayerVariable {
  const key = layerType(layer.getClassName())?.outputKernel ?? 'kernel';
  const kernel = layerWeight(layer, key);
  if (kernel === undefined) throw new Error(`layer "${layer.name}" has no ${key}`);
  return kernel;
}
