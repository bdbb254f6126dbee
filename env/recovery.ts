/**
 * Candidate recovery: what a pruned candidate gets before it is scored, so
 * that its score predicts its accuracy after fine-tuning (no gradient steps).
 *
 * - Adaptive BatchNorm (EagleEye, Li et al. 2020): removing channels changes
 *   the inputs of every BatchNorm after the group's consumers, and their
 *   moving statistics, learned on the unpruned network, go stale. They are
 *   re-estimated on a batch of training images, in one forward pass.
 * - Least-squares reconstruction (Channel Pruning, He et al. 2017; ThiNet;
 *   AMC): each consumer of the group (a conv or dense layer reading its
 *   channels) gets the weights on its kept inputs, and its bias, that best
 *   reproduce its original output on training images:
 *   min ||X_S W' + b' - (X W + b)||^2. The Gram matrix of the consumer's
 *   input is computed once per group; a candidate solves one |S| x |S|
 *   system per consumer, so it is done only where the fan-in is small.
 */
import * as tf from '@tensorflow/tfjs';
import { layerWeight } from '../src/models/weights.js';
import { execute } from '../src/prune/executor.js';
import type { ChannelGroup, DependencyGraph } from '../src/prune/graph.js';
import { layerType, normalizationOf, writeMovingStatistics } from '../src/prune/layer-types.js';

export interface RecoveryConfig {
  /** Re-estimate the statistics of the BatchNorms after the group's consumers on training images (EagleEye). */
  adaptiveBatchNorm: boolean;
  /** Refit the group's conv / dense consumers by least squares on their kept inputs (AMC, ThiNet). */
  reconstruction: boolean;
  /** Training images the statistics and the least squares are computed on. */
  samples: number;
  /** Consumers with a larger fan-in (kernel height x width x input channels) are not refitted: a solve per candidate costs its cube. */
  maxReconstructionInputs: number;
}

/** Rows of the consumer's input patches sampled for its Gram matrix. */
const MAX_GRAM_ROWS = 8192;

/** One consumer's least-squares problem, cached for the group. */
interface Refit {
  layer: string;
  /** Fan-in rows (plus one bias row when the layer has a bias). */
  rows: number;
  outputs: number;
  /** Gram matrix of the input patches (augmented with a ones column for the bias), rows x rows, per sample. */
  gram: Float64Array;
  /** The original [kernel; bias] as rows x outputs. */
  weights: Float64Array;
  /** The group channel each row reads (-1: another group's channel or the bias row, always kept). */
  channelOfRow: Int32Array;
  hasBias: boolean;
}

export class GroupRecovery {
  private constructor(
    private readonly graph: DependencyGraph,
    private readonly refits: Refit[],
    /** BatchNorm layers whose input the pruning changes (re-estimated per candidate). */
    readonly batchNorms: string[],
    /** Activations of the calibration images entering the affected layers. */
    private readonly calibration: Map<string, tf.Tensor>,
  ) {}

  /**
   * @param affected the group's members and every layer downstream of them
   * @param calibrationImages training images for statistics and least squares (none: no recovery)
   * @param frontier unaffected layers that feed affected ones (their outputs are cached)
   */
  static create(
    graph: DependencyGraph,
    group: ChannelGroup,
    affected: Set<string>,
    calibrationImages: tf.Tensor4D | undefined,
    frontier: string[],
    config: RecoveryConfig,
  ): GroupRecovery {
    if (calibrationImages === undefined) return new GroupRecovery(graph, [], [], new Map());
    const memberNames = new Set(group.members.map((m) => m.layer));
    const batchNorms = config.adaptiveBatchNorm
      ? [...affected].filter((name) => !memberNames.has(name) && normalizationOf(graph.node(name).layer) !== undefined)
      : [];
    const consumers = config.reconstruction ? refittableConsumers(graph, group, config.maxReconstructionInputs) : [];
    if (batchNorms.length === 0 && consumers.length === 0) return new GroupRecovery(graph, [], [], new Map());
    const consumerInputs = consumers.map((name) => graph.node(name).inputs[0]);
    // A clone: when the frontier is the model input, execute hands the input itself back, and the group's cache must own what it frees.
    const captured = new Map(
      Object.entries(
        tf.tidy(() => Object.fromEntries(execute(graph, calibrationImages.clone(), { capture: [...frontier, ...consumerInputs], release: true }).captured)),
      ),
    );
    const refits = consumers.map((name) => buildRefit(graph, group, name, captured.get(graph.node(name).inputs[0])!));
    const calibration = new Map(frontier.map((name) => [name, captured.get(name)!]));
    tf.dispose([...captured].filter(([name]) => !calibration.has(name)).map(([, t]) => t));
    return new GroupRecovery(graph, refits, batchNorms, calibration);
  }

  get active(): boolean {
    return this.refits.length > 0 || this.batchNorms.length > 0;
  }

  /**
   * Recovers a candidate's standalone layers in place: refitted consumers
   * first, then BatchNorm statistics (which depend on the consumers' outputs).
   * `layers` holds the pruned copies of the group's members and of `batchNorms`.
   */
  apply(layers: Map<string, tf.layers.Layer>, kept: Set<number>): void {
    for (const refit of this.refits) {
      const solved = solveRefit(refit, kept);
      if (solved !== undefined) setKernelAndBias(layers.get(refit.layer)!, solved, refit);
    }
    if (this.batchNorms.length === 0) return;
    const adapt = new Set(this.batchNorms);
    tf.tidy(() => {
      execute(this.graph, undefined, {
        given: this.calibration,
        replace: layers,
        release: true,
        beforeLayer: (name, [x]) => {
          if (!adapt.has(name)) return;
          const { mean, variance } = tf.moments(x, x.shape.map((_, a) => a).slice(0, -1));
          writeMovingStatistics(layers.get(name)!, mean, variance);
        },
      });
    });
  }

  dispose(): void {
    tf.dispose([...this.calibration.values()]);
  }
}

/** Consumers of the group that their layer type lets be refitted (dense, or conv without dilation), small enough, that do not also produce it. */
function refittableConsumers(graph: DependencyGraph, group: ChannelGroup, maxInputs: number): string[] {
  const roles = new Map<string, Set<string>>();
  for (const m of group.members) roles.set(m.layer, (roles.get(m.layer) ?? new Set()).add(m.role));
  return [...roles]
    .filter(([, r]) => r.has('in') && !r.has('out'))
    .map(([name]) => name)
    .filter((name) => {
      const node = graph.node(name);
      const shape = layerWeight(node.layer, 'kernel')?.shape as number[] | undefined;
      if (shape === undefined) return false;
      const refit = layerType(node.className)?.refit;
      if (refit === 'dense') return shape.length === 2 && shape[0] <= maxInputs;
      if (refit !== 'conv') return false;
      const { dilationRate } = node.layer.getConfig() as { dilationRate?: number | number[] };
      const dilated = [dilationRate ?? 1].flat().some((d) => d !== 1);
      return !dilated && shape[0] * shape[1] * shape[2] <= maxInputs;
    });
}

/** The consumer's input as rows of its fan-in: im2col patches for a conv ([positions, kh * kw * c]), the input itself for a dense layer. */
function patches(layer: tf.layers.Layer, x: tf.Tensor): tf.Tensor2D {
  if (layerType(layer.getClassName())?.refit === 'dense') return x as tf.Tensor2D;
  const { kernelSize, strides, padding } = layer.getConfig() as { kernelSize: number | number[]; strides: number | number[]; padding: string };
  const [kh, kw] = [kernelSize].flat().length === 1 ? [Number(kernelSize), Number(kernelSize)] : (kernelSize as number[]);
  const [sh, sw] = [strides].flat().length === 1 ? [Number(strides), Number(strides)] : (strides as number[]);
  const [n, h, w, c] = x.shape as number[];
  let padded = x as tf.Tensor4D;
  let [oh, ow] = [Math.floor((h - kh) / sh) + 1, Math.floor((w - kw) / sw) + 1];
  if (padding === 'same') {
    [oh, ow] = [Math.ceil(h / sh), Math.ceil(w / sw)];
    const [ph, pw] = [Math.max((oh - 1) * sh + kh - h, 0), Math.max((ow - 1) * sw + kw - w, 0)];
    padded = tf.pad(padded, [
      [0, 0],
      [Math.floor(ph / 2), ph - Math.floor(ph / 2)],
      [Math.floor(pw / 2), pw - Math.floor(pw / 2)],
      [0, 0],
    ]);
  }
  const taps: tf.Tensor[] = [];
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) taps.push(tf.stridedSlice(padded, [0, i, j, 0], [n, i + (oh - 1) * sh + 1, j + (ow - 1) * sw + 1, c], [1, sh, sw, 1]));
  }
  // Row (i * kw + j) * c + channel, as the kernel [kh, kw, c, out] reshapes.
  return tf.reshape(tf.stack(taps, 3), [n * oh * ow, kh * kw * c]);
}

function buildRefit(graph: DependencyGraph, group: ChannelGroup, name: string, input: tf.Tensor): Refit {
  const node = graph.node(name);
  const kernel = layerWeight(node.layer, 'kernel')!.read();
  const bias = layerWeight(node.layer, 'bias');
  const fanIn = kernel.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const outputs = kernel.shape[kernel.shape.length - 1];
  const channels = node.inputRefs[0].length;
  const rows = fanIn + (bias ? 1 : 0);
  const channelOfRow = new Int32Array(rows).fill(-1);
  for (let r = 0; r < fanIn; r++) {
    const ref = node.inputRefs[0][r % channels];
    if (graph.groupOf(ref)?.id === group.id) channelOfRow[r] = ref.index;
  }
  const [gram, weights] = tf.tidy(() => {
    let x = patches(node.layer, input);
    if (x.shape[0] > MAX_GRAM_ROWS) {
      // Evenly spaced rows: deterministic, and spread over images and positions.
      const step = x.shape[0] / MAX_GRAM_ROWS;
      x = tf.gather(
        x,
        Int32Array.from({ length: MAX_GRAM_ROWS }, (_, i) => Math.floor(i * step)),
      );
    }
    if (bias) x = tf.concat([x, tf.ones([x.shape[0], 1])], 1);
    const g = tf.div(tf.matMul(x, x, true, false), x.shape[0]);
    const w = tf.reshape(kernel, [fanIn, outputs]);
    return [g, bias ? tf.concat([w, tf.reshape(bias.read(), [1, outputs])], 0) : w];
  });
  const refit = {
    layer: name,
    rows,
    outputs,
    gram: Float64Array.from(gram.dataSync()),
    weights: Float64Array.from(weights.dataSync()),
    channelOfRow,
    hasBias: bias !== undefined,
  };
  tf.dispose([gram, weights]);
  return refit;
}

/**
 * Solves the refit for the kept rows S: (G_SS + ridge) W'_S = G_S: W, the
 * normal equations of min ||X_S W' - X W||. Undefined if the system is singular.
 */
export function solveRefit(refit: Refit, kept: Set<number>): Float64Array | undefined {
  const { rows, outputs, gram, weights, channelOfRow } = refit;
  const keptRows: number[] = [];
  for (let r = 0; r < rows; r++) if (channelOfRow[r] < 0 || kept.has(channelOfRow[r])) keptRows.push(r);
  const n = keptRows.length;
  const a = new Float64Array(n * n);
  let trace = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) a[i * n + j] = gram[keptRows[i] * rows + keptRows[j]];
    trace += a[i * n + i];
  }
  // A small ridge keeps dead (always-zero) inputs from making the system singular.
  const ridge = (1e-4 * trace) / n + 1e-12;
  for (let i = 0; i < n; i++) a[i * n + i] += ridge;
  const b = new Float64Array(n * outputs);
  for (let i = 0; i < n; i++) {
    const gramRow = keptRows[i] * rows;
    for (let k = 0; k < rows; k++) {
      const g = gram[gramRow + k];
      if (g === 0) continue;
      for (let o = 0; o < outputs; o++) b[i * outputs + o] += g * weights[k * outputs + o];
    }
  }
  return choleskySolve(a, n, b, outputs);
}

/** Solves A X = B for symmetric positive definite A (n x n) and B (n x m), both row-major; undefined if A is not positive definite. */
export function choleskySolve(a: Float64Array, n: number, b: Float64Array, m: number): Float64Array | undefined {
  const l = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let diagonal = a[j * n + j];
    for (let k = 0; k < j; k++) diagonal -= l[j * n + k] * l[j * n + k];
    if (!(diagonal > 0)) return undefined;
    const ljj = Math.sqrt(diagonal);
    l[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let s = a[i * n + j];
      for (let k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
      l[i * n + j] = s / ljj;
    }
  }
  const x = Float64Array.from(b);
  for (let i = 0; i < n; i++) {
    // Forward: L y = b.
    for (let k = 0; k < i; k++) {
      const lik = l[i * n + k];
      for (let o = 0; o < m; o++) x[i * m + o] -= lik * x[k * m + o];
    }
    for (let o = 0; o < m; o++) x[i * m + o] /= l[i * n + i];
  }
  for (let i = n - 1; i >= 0; i--) {
    // Backward: L^T x = y.
    for (let k = i + 1; k < n; k++) {
      const lki = l[k * n + i];
      for (let o = 0; o < m; o++) x[i * m + o] -= lki * x[k * m + o];
    }
    for (let o = 0; o < m; o++) x[i * m + o] /= l[i * n + i];
  }
  return x;
}

/** Writes solved [kernel; bias] rows into the pruned consumer copy. */
function setKernelAndBias(layer: tf.layers.Layer, solved: Float64Array, refit: Refit): void {
  const kernel = layerWeight(layer, 'kernel')!;
  const kernelValues = Float32Array.from(refit.hasBias ? solved.subarray(0, solved.length - refit.outputs) : solved);
  // write() shares the tensor's data with the variable; tidy frees the temporary handle.
  tf.tidy(() => {
    kernel.write(tf.tensor(kernelValues, kernel.shape as number[]));
    if (refit.hasBias) layerWeight(layer, 'bias')!.write(tf.tensor1d(Float32Array.from(solved.subarray(solved.length - refit.outputs))));
  });
}
