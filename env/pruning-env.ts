/**
 * The pruning environment of try-and-learn (Huang et al. 2018): it wraps the
 * target CNN and a reward subset of the validation split. For the current
 * channel group it gives the observation (the group's filters as an N x M
 * array) and scores actions (keep masks) by the accuracy of the actually
 * pruned network: coupled layers included, never the test split.
 *
 * Fast path: the activations entering the layers a group touches are computed
 * once per group and cached; each candidate runs only the rest of the network,
 * with the group's layers swapped for physically pruned copies (fewer channels,
 * fewer FLOPs).
 */
import * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../src/data/datasets.js';
import { seededPermutation } from '../src/data/datasets.js';
import { filterRows } from '../src/heuristics/criteria.js';
import { layerWeight } from '../src/models/weights.js';
import { execute } from '../src/prune/executor.js';
import { buildGraph, type ChannelGroup, type DependencyGraph } from '../src/prune/graph.js';
import { layerMacs, modelCost } from '../src/prune/metrics.js';
import { disposeLayers, prunedLayers } from '../src/prune/surgery.js';
import { type RewardConfig, reward } from './reward.js';

export interface EnvConfig extends RewardConfig {
  /** Validation images the reward is measured on (a seeded subset). */
  rewardSamples: number;
  /** Images per forward pass when evaluating a candidate. */
  evalBatchSize: number;
  /** Seed of the reward subset. */
  seed: number;
}

/** The cached activations for the current group: inputs of the first affected layers, per evaluation batch. */
interface GroupCache {
  group: ChannelGroup;
  /** Layers whose pruned copies replace the originals (every group member). */
  members: string[];
  /** Per batch: outputs of the unaffected layers that feed affected ones. */
  batches: Map<string, tf.Tensor>[];
  observation: tf.Tensor2D;
  /** MACs of the current network for one image (the flops reward's denominator). */
  totalMacs: number;
}

export class PruningEnv {
  private graphOfModel: DependencyGraph;
  private readonly images: tf.Tensor4D;
  private readonly labels: Int32Array;
  private cache?: GroupCache;
  /** p: the unpruned model's accuracy on the reward subset, in percent (set by create). */
  private p = NaN;

  /** @param currentModel the network being pruned (the environment owns it from here on) */
  private constructor(
    private currentModel: tf.LayersModel,
    readonly data: Dataset,
    readonly config: EnvConfig,
    subset: Uint32Array,
  ) {
    this.graphOfModel = buildGraph(currentModel);
    const perImage = data.inputShape.reduce((a, b) => a * b, 1);
    const pixels = new Float32Array(subset.length * perImage);
    subset.forEach((idx, i) => pixels.set(data.validation.images.subarray(idx * perImage, (idx + 1) * perImage), i * perImage));
    this.images = tf.tensor4d(pixels, [subset.length, ...data.inputShape]);
    this.labels = Int32Array.from(subset, (idx) => data.validation.labels[idx]);
  }

  /**
   * @param baseAccuracy p, when already known (a resumed run keeps the original model's p);
   *   measured on the reward subset otherwise.
   */
  static async create(model: tf.LayersModel, data: Dataset, config: EnvConfig, baseAccuracy?: number): Promise<PruningEnv> {
    const count = Math.min(config.rewardSamples, data.validation.count);
    const subset = seededPermutation(data.validation.count, `${config.seed}-reward-subset`).slice(0, count);
    const env = new PruningEnv(model, data, config, subset);
    env.p = baseAccuracy ?? (await env.modelAccuracy(model));
    return env;
  }

  get baseAccuracy(): number {
    return this.p;
  }

  get model(): tf.LayersModel {
    return this.currentModel;
  }

  get graph(): DependencyGraph {
    return this.graphOfModel;
  }

  /** Accuracy in percent on the reward subset of `forward`, run in evaluation batches. */
  private async accuracyOf(forward: (x: tf.Tensor4D, start: number, batch: number) => tf.Tensor): Promise<number> {
    let correct = 0;
    const n = this.labels.length;
    for (let start = 0, batch = 0; start < n; start += this.config.evalBatchSize, batch++) {
      const end = Math.min(start + this.config.evalBatchSize, n);
      const predicted = tf.tidy(() => forward(this.images.slice(start, end - start) as tf.Tensor4D, start, batch).argMax(-1));
      const values = await predicted.data();
      predicted.dispose();
      for (let i = 0; i < values.length; i++) if (values[i] === this.labels[start + i]) correct++;
    }
    return (100 * correct) / n;
  }

  /** Accuracy in percent of a whole model on the reward subset (the slow path the fast one must match). */
  modelAccuracy(model: tf.LayersModel): Promise<number> {
    return this.accuracyOf((x) => model.predict(x, { batchSize: this.config.evalBatchSize }) as tf.Tensor);
  }

  /** Makes `groupId` the current group: caches the activations before it and its observation. */
  setGroup(groupId: number): ChannelGroup {
    this.clearCache();
    const graph = this.graphOfModel;
    const group = graph.group(groupId);
    if (!group.prunable) throw new Error(`group ${groupId} cannot be pruned: ${group.reason}`);
    const members = [...new Set(group.members.map((m) => m.layer))];
    // Affected: the members and everything downstream of them; cached: unaffected layers feeding affected ones.
    const affected = new Set(graph.downstreamOf(members));
    const frontier = [...new Set([...affected].flatMap((name) => graph.node(name).inputs.filter((i) => !affected.has(i))))];
    const batches: Map<string, tf.Tensor>[] = [];
    for (let start = 0; start < this.labels.length; start += this.config.evalBatchSize) {
      const size = Math.min(this.config.evalBatchSize, this.labels.length - start);
      const captured = tf.tidy(() => Object.fromEntries(execute(graph, this.images.slice(start, size), { capture: frontier }).captured));
      batches.push(new Map(Object.entries(captured)));
    }
    const observation = this.buildObservation(group);
    this.cache = { group, members, batches, observation, totalMacs: modelCost(this.currentModel).macs };
    return group;
  }

  /**
   * The group's filters as an N x (M + 1) array: N channels; M = the fan-in of
   * all producers concatenated, standardised over the whole array so relative
   * filter magnitudes survive; plus one column with how strongly the next
   * layers read each channel (the norm of their input weights on it), so that
   * an unused filter differs from an identical used one.
   */
  private buildObservation(group: ChannelGroup): tf.Tensor2D {
    const readNorm = this.consumerWeightNorms(group);
    return tf.tidy(() => {
      const standardise = (t: tf.Tensor) => {
        const { mean, variance } = tf.moments(t);
        return tf.div(tf.sub(t, mean), tf.add(tf.sqrt(variance), 1e-8));
      };
      const filters = standardise(tf.concat(filterRows(this.graphOfModel, group), 1));
      return tf.concat([filters, standardise(tf.tensor2d(readNorm, [group.size, 1]))], 1) as tf.Tensor2D;
    });
  }

  /** Per channel: the L2 norm of every consumer weight that reads it. */
  private consumerWeightNorms(group: ChannelGroup): Float32Array {
    const squares = new Float64Array(group.size);
    for (const member of group.members.filter((m) => m.role === 'in')) {
      const node = this.graphOfModel.node(member.layer);
      const key = node.className === 'SeparableConv2D' ? 'depthwise_kernel' : 'kernel';
      const inputAxis = node.className === 'Dense' ? 0 : 2;
      const kernel = layerWeight(node.layer, key)!.read();
      const perPosition = tf.tidy(() => tf.sum(tf.square(kernel), kernel.shape.map((_, a) => a).filter((a) => a !== inputAxis)).dataSync());
      node.inputRefs[0].forEach((ref, p) => {
        if (this.graphOfModel.groupOf(ref)?.id === group.id) squares[ref.index] += perPosition[p];
      });
    }
    return Float32Array.from(squares, Math.sqrt);
  }

  observation(): tf.Tensor2D {
    return this.current().observation;
  }

  private current(): GroupCache {
    if (this.cache === undefined) throw new Error('no current group: call setGroup first');
    return this.cache;
  }

  /** Accuracy (percent, reward subset) of the network with the current group pruned to `mask`. */
  async evaluate(mask: ArrayLike<number>): Promise<number> {
    const { group, members, batches } = this.current();
    const kept = keptIndices(mask);
    if (kept.length === 0) return 100 / this.data.numClasses; // an empty group is scored as chance level
    const layers = prunedLayers(this.graphOfModel, new Map([[group.id, kept]]), members);
    try {
      return await this.accuracyOf((_, __, batch) => execute(this.graphOfModel, undefined, { given: batches[batch], replace: layers }).output);
    } finally {
      disposeLayers(layers);
    }
  }

  /** MACs per image of the network with the current group pruned to `kept` channels (for a FLOPs-based phi). */
  macsWith(mask: ArrayLike<number>): number {
    const { group, members } = this.current();
    const kept = keptIndices(mask);
    if (kept.length === 0) kept.push(0); // an empty group is costed as one channel
    const layers = prunedLayers(this.graphOfModel, new Map([[group.id, kept]]), members);
    const graph = this.graphOfModel;
    // Spatial sizes do not change with the channel count: the original layer's output shape serves.
    const macs = graph.order.reduce((sum, name) => sum + layerMacs(layers.get(name) ?? graph.node(name).layer, graph.node(name).layer.outputShape as (number | null)[]), 0);
    disposeLayers(layers);
    return macs;
  }

  /** The paper's reward R = psi * phi for an evaluated mask. */
  reward(accuracy: number, mask: ArrayLike<number>): number {
    const { group, totalMacs } = this.current();
    const kept = keptIndices(mask).length;
    const pruned = this.config.phi === 'flops' ? { total: totalMacs, pruned: this.macsWith(mask) } : undefined;
    return reward({ baseAccuracy: this.baseAccuracy, accuracy, total: group.size, kept, macs: pruned }, this.config);
  }

  /** Continues from another model (after fine-tuning or a relaxed decision). */
  replaceModel(model: tf.LayersModel): void {
    this.clearCache();
    if (model !== this.currentModel) this.currentModel.dispose();
    this.currentModel = model;
    this.graphOfModel = buildGraph(model);
  }

  private clearCache(): void {
    if (this.cache === undefined) return;
    for (const batch of this.cache.batches) tf.dispose([...batch.values()]);
    this.cache.observation.dispose();
    this.cache = undefined;
  }

  dispose(): void {
    this.clearCache();
    this.images.dispose();
  }
}

export function keptIndices(mask: ArrayLike<number>): number[] {
  const kept: number[] = [];
  for (let i = 0; i < mask.length; i++) if (mask[i] > 0) kept.push(i);
  return kept;
}
