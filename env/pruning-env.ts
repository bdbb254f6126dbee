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
 * fewer FLOPs). Before it is scored, a candidate can be recovered without
 * gradient steps (adaptive BatchNorm, least-squares refit of the consumers:
 * ./recovery.ts), so that its score predicts its accuracy after fine-tuning.
 *
 * The reward subset is disjoint from the selection split, on which the run
 * makes its choices after fine-tuning, and from the certification split, on
 * which the final model's drop is bounded (src/certify/holdout.ts).
 */
import * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../src/data/datasets.js';
import { floatImages, seededPermutation, subsetSplit } from '../src/data/datasets.js';
import { rewardSubset } from '../src/certify/holdout.js';
import { type LatencyTable, predictLatency } from '../src/latency/table.js';
import { type Criterion, type CriterionName, criterionOf, filterRows, observedCriteria, scoreGroups } from '../src/heuristics/criteria.js';
import { layerWeight } from '../src/models/weights.js';
import { execute } from '../src/prune/executor.js';
import { buildGraph, type ChannelGroup, type DependencyGraph } from '../src/prune/graph.js';
import { type LayerNode, layerType } from '../src/prune/layer-types.js';
import { layerMacs, modelCost } from '../src/prune/metrics.js';
import { disposeLayers, prunedLayers, pruneModel } from '../src/prune/surgery.js';
import { CachedActivations, type CacheLimits, type CachePlace, DEFAULT_CACHE_LIMITS, groupFrontier } from './activation-cache.js';
import { GroupRecovery, type RecoveryConfig } from './recovery.js';
import { type RewardConfig, reward } from './reward.js';
import { CriterionError } from '../src/errors.js';
import { timed, timedSync } from '../src/phases.js';
import { inferenceBatch } from '../src/train/heap-fit.js';

export interface EnvConfig extends RewardConfig {
  /** Validation images the reward is measured on (a seeded subset of the selection split). */
  rewardSamples: number;
  /** Validation images held out for certification (default half): the reward subset lies outside them. */
  certificationSamples?: number;
  /** Images per forward pass when evaluating a candidate. */
  evalBatchSize: number;
  /** Seed of the reward subset. */
  seed: number;
  /** How a candidate is recovered before it is scored. */
  recovery: RecoveryConfig;
  /** Append per-filter scores of the observed criteria (observedCriteria: L1, L2, FPGM, APoZ, mean activation, Taylor, BN scale, and any registered) to the observation. */
  observationCriteria: boolean;
  /** Training images the data-driven criteria of the observation read. */
  criteriaSamples: number;
  /** The target's latency table, for the latency reward (phi: latency). */
  latency?: LatencyTable;
  /**
   * What a candidate's score counts on the reward subset: images labelled
   * right (accuracy, the default), or images answered as the unpruned model
   * answers them (agreement: label-free, and it moves only where pruning
   * changed an answer, not with the images the unpruned model already gets
   * wrong), or each image's exp(-KL) of its class probabilities from the
   * unpruned model's (kl: label-free and graded, EvoPress's fitness made a
   * fraction: 1 for the unpruned model, about 1 - the mean KL in nats when
   * it is small; the reward reads 1 - it as it reads an accuracy drop).
   */
  rewardScore?: 'accuracy' | 'agreement' | 'kl';
  /**
   * Bytes a group's cached activations may take: in the backend's memory
   * (wasm's heap holds at most 4 GiB, the model and reward images included),
   * else in this process's host memory (copied in per batch), else none is
   * kept and each candidate runs the whole network. Scores are the same in
   * every case; only time and memory differ. Default DEFAULT_CACHE_LIMITS.
   */
  cacheLimits?: CacheLimits;
}

/** The reward's accuracy budget for the current group: psi = (tolerance - 100 (reference - p_hat)) / tolerance. */
export interface RewardBudget {
  /** Accuracy (fraction, reward subset) a candidate's loss is measured from. */
  reference: number;
  /** Points a candidate may lose before psi turns negative. */
  tolerance: number;
}

/** The cached activations for the current group: inputs of the first affected layers, per evaluation batch. */
interface GroupCache {
  group: ChannelGroup;
  /** Layers whose pruned copies replace the originals (every group member). */
  members: string[];
  activations: CachedActivations;
  /** Built on first use (the agent's); a scoring worker never needs it. */
  observation?: { observation: tf.Tensor2D; blocks: number[] };
  recovery: GroupRecovery;
  /** MACs of the current network for one image (the flops reward's denominator). */
  totalMacs: number;
}

/** What a PruningEnv scores candidates on, as plain arrays a scoring worker can be given. */
export interface RewardImages {
  inputShape: [number, number, number];
  numClasses: number;
  /** The reward subset of the validation split, in subset order, and its labels. */
  images: Float32Array;
  labels: Int32Array;
  /** Training images for candidate recovery (when recovery is on and there are training images). */
  calibration?: Float32Array;
  /** rewardScore kl: the unpruned model's class probabilities on each image (numClasses each), and whether its outputs need a softmax to be probabilities. */
  reference?: { probabilities: Float32Array; softmax: boolean };
}

/** The reward subset and recovery images of `data` for `config` (seeded). */
export function rewardImages(data: Dataset, config: EnvConfig): RewardImages {
  const subset = subsetSplit(data.validation, rewardSubset(data.validation.count, config), data.inputShape);
  const { recovery } = config;
  const recovering = (recovery.adaptiveBatchNorm || recovery.reconstruction) && data.train.count > 0;
  const calibrationIndices = seededPermutation(data.train.count, `${config.seed}-recovery`).subarray(0, Math.min(recovery.samples, data.train.count));
  return {
    inputShape: data.inputShape,
    numClasses: data.numClasses,
    images: floatImages(subset, data.inputShape),
    labels: Int32Array.from(subset.labels),
    ...(recovering && { calibration: floatImages(subsetSplit(data.train, calibrationIndices, data.inputShape), data.inputShape) }),
  };
}

/** What a scoring worker needs to score masks exactly as the environment that sent it. */
export interface ScoringState {
  /** The environment (unique in this process) and its state: a worker holding another version rebuilds. */
  version: string;
  /** The backend the environment runs on (a worker uses it with one wasm thread). */
  backend: string;
  config: EnvConfig;
  /** In SharedArrayBuffers: sent with every task, never copied. */
  reward: RewardImages;
  /** The network: its topology (model.toJSON) and weights in getWeights order. */
  topology: object;
  weights: { shape: number[]; dtype: tf.DataType; values: Float32Array | Int32Array }[];
  groupId: number;
}

/** Reward images [from, to) of the subset, `from` at the start of an evaluation batch (the cache is kept per batch). */
export interface ImageRange {
  from: number;
  to: number;
}

/** Scores masks elsewhere, given the environment's state (ScoringPool: worker threads). */
export interface CandidateScorer {
  /** The accuracy of each mask under `state` on `images` (default: all), in order. */
  score(state: ScoringState, masks: ArrayLike<number>[], images?: ImageRange): Promise<number[]>;
}

/** A typed array's contents in a SharedArrayBuffer (workers read it without a copy). */
function shared<T extends Float32Array | Int32Array>(values: T): T {
  const Typed = values.constructor as new (buffer: SharedArrayBuffer) => T;
  const copy = new Typed(new SharedArrayBuffer(values.byteLength));
  copy.set(values);
  return copy;
}

/** The class `model` gives each reward image (argmax), in subset order. */
async function answersOf(model: tf.LayersModel, { images, labels, inputShape }: RewardImages, batchSize: number): Promise<Int32Array> {
  const answers = new Int32Array(labels.length);
  const perImage = inputShape[0] * inputShape[1] * inputShape[2];
  for (let start = 0; start < labels.length; start += batchSize) {
    const end = Math.min(start + batchSize, labels.length);
    const predicted = tf.tidy(() =>
      (model.predict(tf.tensor4d(images.subarray(start * perImage, end * perImage), [end - start, ...inputShape])) as tf.Tensor).argMax(-1),
    );
    answers.set(await predicted.data(), start);
    predicted.dispose();
  }
  return answers;
}

/** The unpruned model's class probabilities on the reward images; a softmax is applied when its outputs are not already probabilities (logits). */
async function referenceOf(model: tf.LayersModel, { images, labels, inputShape }: RewardImages, batchSize: number): Promise<RewardImages['reference']> {
  const perImage = inputShape[0] * inputShape[1] * inputShape[2];
  const batches: Float32Array[] = [];
  for (let start = 0; start < labels.length; start += batchSize) {
    const end = Math.min(start + batchSize, labels.length);
    const outputs = tf.tidy(() => model.predict(tf.tensor4d(images.subarray(start * perImage, end * perImage), [end - start, ...inputShape])) as tf.Tensor);
    batches.push((await outputs.data()) as Float32Array);
    outputs.dispose();
  }
  const outputs = Float32Array.from(batches.flatMap((b) => Array.from(b)));
  const classes = outputs.length / labels.length;
  let probabilities = true;
  for (let i = 0; i < labels.length && probabilities; i++) {
    const row = outputs.subarray(i * classes, (i + 1) * classes);
    probabilities = row.every((v) => v >= 0) && Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-3;
  }
  if (probabilities) return { probabilities: outputs, softmax: false };
  const softened = tf.tidy(() => tf.softmax(tf.tensor2d(outputs, [labels.length, classes])));
  const values = (await softened.data()) as Float32Array;
  softened.dispose();
  return { probabilities: values, softmax: true };
}

/** Each image's exp(-KL(reference || candidate)) from a batch's outputs (tidy'd by the caller). */
function klFitness(outputs: tf.Tensor, reference: Float32Array, softmax: boolean): tf.Tensor {
  const floor = 1e-7;
  const q = (softmax ? tf.softmax(outputs) : outputs).clipByValue(floor, 1);
  const r = tf.tensor2d(reference, q.shape as [number, number]).clipByValue(floor, 1);
  return tf.exp(r.mul(r.log().sub(q.log())).sum(-1).neg());
}

let environments = 0;

export class PruningEnv {
  private graphOfModel: DependencyGraph;
  private readonly images: tf.Tensor4D;
  private readonly labels: Int32Array;
  /** Training images for candidate recovery (BatchNorm statistics, least squares). */
  private readonly calibrationImages?: tf.Tensor4D;
  private cache?: GroupCache;
  /** p: the unpruned model's accuracy on the reward subset, a fraction (set by create). */
  private p = NaN;
  private budget?: RewardBudget;
  /** Changes whenever the network or the current group does (what a scoring worker must hold). */
  private version = 0;
  /** Tells this environment's states from another's that shares a pool. */
  private readonly id = ++environments;
  private scorer?: CandidateScorer;
  /** The state scoring workers get, built once per version. */
  private sharedState?: ScoringState;

  /**
   * @param currentModel the network being pruned (the environment owns it from here on)
   * @param data the training images the observation's criteria read (absent in a scoring worker)
   */
  private constructor(
    private currentModel: tf.LayersModel,
    readonly config: EnvConfig,
    readonly rewardData: RewardImages,
    private readonly data?: Dataset,
  ) {
    this.graphOfModel = buildGraph(currentModel);
    const { inputShape, labels, calibration } = rewardData;
    this.images = tf.tensor4d(rewardData.images, [labels.length, ...inputShape]);
    this.labels = labels;
    if (calibration !== undefined) this.calibrationImages = tf.tensor4d(calibration, [calibration.length / tf.util.sizeFromShape(inputShape), ...inputShape]);
  }

  /**
   * @param baseAccuracy p, when already known (a resumed run keeps the original model's p);
   *   measured on the reward subset otherwise.
   */
  static async create(
    model: tf.LayersModel,
    data: Dataset,
    requested: EnvConfig,
    baseAccuracy?: number,
    unpruned: tf.LayersModel = model,
  ): Promise<PruningEnv> {
    // Scores do not depend on the batch: one the wasm heap cannot hold is cut to one it can (scoring workers get this config).
    const config = { ...requested, evalBatchSize: inferenceBatch(model, requested.evalBatchSize) };
    const reward = rewardImages(data, config);
    // Agreement scores against the unpruned model's answers: they take the labels' place (and reach scoring workers as the labels do).
    if (config.rewardScore === 'agreement') reward.labels = await answersOf(unpruned, reward, config.evalBatchSize);
    if (config.rewardScore === 'kl') reward.reference = await referenceOf(unpruned, reward, config.evalBatchSize);
    const env = new PruningEnv(model, config, reward, data);
    env.p = baseAccuracy ?? (await env.modelAccuracy(model));
    return env;
  }

  /** An environment that only scores candidates (a scoring worker's): no observation, no reward. */
  static forScoring(model: tf.LayersModel, config: EnvConfig, reward: RewardImages): PruningEnv {
    return new PruningEnv(model, config, reward);
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

  /** The score (a fraction: accuracy, agreement, or kl fitness) on the reward subset of `forward`, run in evaluation batches. */
  private async accuracyOf(
    forward: (x: tf.Tensor4D, start: number, batch: number) => tf.Tensor,
    { from, to }: ImageRange = { from: 0, to: this.labels.length },
  ): Promise<number> {
    const batchSize = this.config.evalBatchSize;
    if (from % batchSize !== 0 || from >= to || to > this.labels.length)
      throw new Error(`reward images [${from}, ${to}) do not start an evaluation batch of ${batchSize} within ${this.labels.length}`);
    const { reference } = this.rewardData;
    let correct = 0;
    for (let start = from, batch = from / batchSize; start < to; start += batchSize, batch++) {
      const end = Math.min(start + batchSize, to);
      const x = () => this.images.slice(start, end - start) as tf.Tensor4D;
      if (reference !== undefined) {
        // kl: each image counts its fitness, a fraction, where accuracy counts 0 or 1.
        const classes = reference.probabilities.length / this.labels.length;
        const rows = reference.probabilities.subarray(start * classes, end * classes);
        const fitness = tf.tidy(() => klFitness(forward(x(), start, batch), rows, reference.softmax));
        for (const f of (await fitness.data()) as Float32Array) correct += f;
        fitness.dispose();
        continue;
      }
      const predicted = tf.tidy(() => forward(x(), start, batch).argMax(-1));
      const values = await predicted.data();
      predicted.dispose();
      for (let i = 0; i < values.length; i++) if (values[i] === this.labels[start + i]) correct++;
    }
    return correct / (to - from);
  }

  /** Images in the reward subset. */
  get rewardImageCount(): number {
    return this.labels.length;
  }

  /** Images per evaluation batch: an image range for evaluate starts at a multiple of it. */
  get evaluationBatchSize(): number {
    return this.config.evalBatchSize;
  }

  /** Accuracy (fraction) of a whole model on the reward subset (the slow path the fast one must match). */
  modelAccuracy(model: tf.LayersModel): Promise<number> {
    return timed('scoring', () => this.accuracyOf((x) => model.predict(x, { batchSize: this.config.evalBatchSize }) as tf.Tensor));
  }

  /**
   * Makes `groupId` the current group: caches the activations before it, its
   * observation and its recovery data. The reward budget returns to the
   * paper's (the unpruned accuracy p, the configured tolerance) until
   * setRewardBudget changes it.
   */
  setGroup(groupId: number): ChannelGroup {
    return timedSync('setup', () => this.cacheGroup(groupId));
  }

  private cacheGroup(groupId: number): ChannelGroup {
    this.clearCache();
    const graph = this.graphOfModel;
    const group = graph.group(groupId);
    if (!group.prunable) throw new Error(`group ${groupId} cannot be pruned: ${group.reason}`);
    const { members, affected, frontier } = groupFrontier(graph, group);
    const activations = CachedActivations.capture(graph, frontier, this.images, this.config.evalBatchSize, this.config.cacheLimits ?? DEFAULT_CACHE_LIMITS);
    const recovery = GroupRecovery.create(graph, group, affected, this.calibrationImages, frontier, this.config.recovery);
    this.budget = undefined;
    this.cache = { group, members, activations, recovery, totalMacs: modelCost(this.currentModel).macs };
    this.version++;
    return group;
  }

  /** Sets the reward's budget for the current group (see RewardBudget). */
  setRewardBudget(budget: RewardBudget): void {
    this.current();
    this.budget = budget;
  }

  /** Where the current group's activations are kept, and their bytes. */
  get activationCache(): { place: CachePlace; bytes: number } {
    const { place, bytes } = this.current().activations;
    return { place, bytes };
  }

  get rewardBudget(): RewardBudget {
    return this.budget ?? { reference: this.p, tolerance: this.config.tolerance };
  }

  /**
   * The group's filters as an N x (M + 1 [+ K]) array: N channels; M = the
   * fan-in of all producers concatenated, standardised over the whole array so
   * relative filter magnitudes survive; one column with how strongly the next
   * layers read each channel (the norm of their input weights on it), so that
   * an unused filter differs from an identical used one; and, when enabled,
   * K columns of per-filter criteria scores, each standardised over the group,
   * so the policy can represent any criterion and combine them.
   */
  private buildObservation(group: ChannelGroup): { observation: tf.Tensor2D; blocks: number[] } {
    const readNorm = this.consumerWeightNorms(group);
    const criteria = this.config.observationCriteria ? this.criteriaScores(group) : [];
    const observation = tf.tidy(() => {
      const standardise = (t: tf.Tensor, axis?: number) => {
        const { mean, variance } = tf.moments(t, axis, true);
        return tf.div(tf.sub(t, mean), tf.add(tf.sqrt(variance), 1e-8));
      };
      const filters = standardise(tf.concat(filterRows(this.graphOfModel, group), 1));
      const parts = [filters, standardise(tf.tensor2d(readNorm, [group.size, 1]))];
      if (criteria.length > 0)
        parts.push(
          standardise(
            tf.stack(
              criteria.map((c) => tf.tensor1d(c)),
              1,
            ),
            0,
          ),
        );
      return tf.concat(parts, 1) as tf.Tensor2D;
    });
    const blocks = [observation.shape[1] - 1 - criteria.length, 1, ...(criteria.length > 0 ? [criteria.length] : [])];
    return { observation, blocks };
  }

  /** One score per filter for each observed criterion (the registry's) that can score this group. */
  private criteriaScores(group: ChannelGroup): Float32Array[] {
    return observedCriteria()
      .map((criterion) => this.criterionScores(criterion, group))
      .filter((s): s is Float32Array => s !== undefined);
  }

  /**
   * The criterion's score per filter of `group` (default: the current group),
   * or undefined when it cannot score it (bn-scale without a BatchNorm on the
   * group; a data criterion without training images).
   */
  criterionScores(criterion: CriterionName | Criterion, group: ChannelGroup = this.current().group): Float32Array | undefined {
    return timedSync('criteria', () => this.scoresOf(criterion, group));
  }

  private scoresOf(criterion: CriterionName | Criterion, group: ChannelGroup): Float32Array | undefined {
    const { data } = this;
    if (data === undefined) throw new Error('a scoring-only environment has no criteria');
    if (criterionOf(criterion).needsData && data.train.count === 0) return undefined;
    const scoring = { split: data.train, inputShape: data.inputShape, numClasses: data.numClasses, samples: this.config.criteriaSamples, batchSize: 128 };
    try {
      return scoreGroups(criterion, { graph: this.graphOfModel, data: scoring, seed: this.config.seed }, [group]).get(group.id);
    } catch (err) {
      if (err instanceof CriterionError) return undefined; // bn-scale on a group without BatchNorm
      throw err;
    }
  }

  /** Per channel: the L2 norm of every consumer weight that reads it. */
  private consumerWeightNorms(group: ChannelGroup): Float32Array {
    const squares = new Float64Array(group.size);
    for (const member of group.members.filter((m) => m.role === 'in')) {
      const node = this.graphOfModel.node(member.layer);
      const read = inputAxisOf(node);
      if (read === undefined) continue; // a consumer with no weight on its input channels
      const [key, inputAxis] = read;
      const kernel = layerWeight(node.layer, key)!.read();
      const perPosition = tf.tidy(() =>
        tf
          .sum(
            tf.square(kernel),
            kernel.shape.map((_, a) => a).filter((a) => a !== inputAxis),
          )
          .dataSync(),
      );
      node.inputRefs[0].forEach((ref, p) => {
        if (this.graphOfModel.groupOf(ref)?.id === group.id) squares[ref.index] += perPosition[p];
      });
    }
    return Float32Array.from(squares, Math.sqrt);
  }

  observation(): tf.Tensor2D {
    return this.observed().observation;
  }

  /** Column counts of the observation's parts: filters, read norm, criteria (each part initialised as its own input). */
  observationBlocks(): number[] {
    return this.observed().blocks;
  }

  private observed(): { observation: tf.Tensor2D; blocks: number[] } {
    const cache = this.current();
    cache.observation ??= this.buildObservation(cache.group);
    return cache.observation;
  }

  private current(): GroupCache {
    if (this.cache === undefined) throw new Error('no current group: call setGroup first');
    return this.cache;
  }

  /** Pruned (and recovered) standalone copies of the layers a candidate changes. Dispose with disposeLayers. */
  private candidateLayers(kept: number[]): Map<string, tf.layers.Layer> {
    const { group, members, recovery } = this.current();
    const layers = prunedLayers(this.graphOfModel, new Map([[group.id, kept]]), [...members, ...recovery.batchNorms]);
    if (recovery.active) timedSync('recovery', () => recovery.apply(layers, new Set(kept)));
    return layers;
  }

  /** Accuracy (fraction, reward subset or its `images`) of the network with the current group pruned to `mask` (and recovered). */
  evaluate(mask: ArrayLike<number>, images?: ImageRange): Promise<number> {
    return timed('scoring', () => this.evaluateHere(mask, images));
  }

  private async evaluateHere(mask: ArrayLike<number>, images?: ImageRange): Promise<number> {
    const { activations } = this.current();
    const kept = keptIndices(mask);
    if (kept.length === 0) return 1 / this.rewardData.numClasses; // an empty group is scored as chance level
    const layers = this.candidateLayers(kept);
    try {
      return await this.accuracyOf(
        (x, _, batch) => execute(this.graphOfModel, x, { given: activations.batch(batch), replace: layers, release: true }).output,
        images,
      );
    } finally {
      disposeLayers(layers);
    }
  }

  /**
   * The accuracy of each mask on the reward subset or its `images`, in order:
   * by the attached scorer (worker threads) when there is one, else one after
   * another here. Both give the same numbers.
   */
  evaluateAll(masks: ArrayLike<number>[], images?: ImageRange): Promise<number[]> {
    return timed('scoring', async () => {
      if (this.scorer === undefined) {
        const accuracies: number[] = [];
        for (const mask of masks) accuracies.push(await this.evaluateHere(mask, images));
        return accuracies;
      }
      return this.scorer.score(await this.scoringState(), masks, images);
    });
  }

  /** Scores evaluateAll's masks with `scorer` from here on (undefined: in this thread). */
  scoreWith(scorer: CandidateScorer | undefined): void {
    this.scorer = scorer;
  }

  private async scoringState(): Promise<ScoringState> {
    const { group } = this.current();
    const version = `${this.id}.${this.version}`;
    if (this.sharedState?.version === version) return this.sharedState;
    const { images, labels, calibration, reference } = this.rewardData;
    const reward = this.sharedState?.reward ?? {
      ...this.rewardData,
      images: shared(images),
      labels: shared(labels),
      ...(calibration !== undefined && { calibration: shared(calibration) }),
      ...(reference !== undefined && { reference: { ...reference, probabilities: shared(reference.probabilities) } }),
    };
    const weights = await Promise.all(
      this.currentModel.getWeights().map(async (w) => ({ shape: w.shape, dtype: w.dtype, values: shared((await w.data()) as Float32Array | Int32Array) })),
    );
    this.sharedState = {
      version,
      backend: tf.getBackend(),
      config: this.config,
      reward,
      topology: this.currentModel.toJSON(null, false) as object,
      weights,
      groupId: group.id,
    };
    return this.sharedState;
  }

  /** MACs per image of the network with the current group pruned to `kept` channels (for a FLOPs-based phi). */
  macsWith(mask: ArrayLike<number>): number {
    const { group, members } = this.current();
    const kept = keptIndices(mask);
    if (kept.length === 0) kept.push(0); // an empty group is costed as one channel
    const layers = prunedLayers(this.graphOfModel, new Map([[group.id, kept]]), members);
    const graph = this.graphOfModel;
    // Spatial sizes do not change with the channel count: the original layer's output shape serves.
    const macs = graph.order.reduce(
      (sum, name) => sum + layerMacs(layers.get(name) ?? graph.node(name).layer, graph.node(name).layer.outputShape as (number | null)[]),
      0,
    );
    disposeLayers(layers);
    return macs;
  }

  /**
   * The whole network with the current group pruned to `kept`, recovered as
   * candidates are (what fine-tuning then starts from). A new model.
   */
  async prunedModel(kept: number[]): Promise<tf.LayersModel> {
    const { group, recovery } = this.current();
    const model = await pruneModel(this.graphOfModel, new Map([[group.id, kept]]));
    if (!recovery.active) return model;
    const layers = this.candidateLayers(kept);
    for (const [name, layer] of layers) model.getLayer(name).setWeights(layer.getWeights());
    disposeLayers(layers);
    return model;
  }

  /** The paper's reward R = psi * phi for an evaluated mask, under the current group's budget. */
  reward(accuracy: number, mask: ArrayLike<number>): number {
    const { group, totalMacs } = this.current();
    const kept = keptIndices(mask).length;
    const pruned = this.config.phi === 'flops' ? { total: totalMacs, pruned: this.macsWith(mask) } : undefined;
    const latency = this.config.phi === 'latency' ? this.latencyWith(Math.max(1, kept)) : undefined;
    const { reference, tolerance } = this.rewardBudget;
    return reward({ baseAccuracy: reference, accuracy, total: group.size, kept, macs: pruned, latency }, { phi: this.config.phi, tolerance });
  }

  /** Predicted time of the current network, and with the current group at `kept` channels (the latency table's target). */
  latencyWith(kept: number): { total: number; pruned: number } {
    const table = this.config.latency;
    if (table === undefined) throw new Error('phi latency needs a latency table (EnvConfig.latency)');
    const counts = Object.fromEntries(this.graphOfModel.prunableGroups().map((g) => [g.id, g.size]));
    return { total: predictLatency(table, counts), pruned: predictLatency(table, { ...counts, [this.current().group.id]: kept }) };
  }

  /** Continues from another model (after fine-tuning or a relaxed decision). */
  replaceModel(model: tf.LayersModel): void {
    this.clearCache();
    if (model !== this.currentModel) this.currentModel.dispose();
    this.currentModel = model;
    this.graphOfModel = buildGraph(model);
    this.version++;
  }

  private clearCache(): void {
    if (this.cache === undefined) return;
    this.cache.activations.dispose();
    this.cache.observation?.observation.dispose();
    this.cache.recovery.dispose();
    this.cache = undefined;
  }

  dispose(): void {
    this.clearCache();
    this.images.dispose();
    this.calibrationImages?.dispose();
  }
}

export function keptIndices(mask: ArrayLike<number>): number[] {
  const kept: number[] = [];
  for (let i = 0; i < mask.length; i++) if (mask[i] > 0) kept.push(i);
  return kept;
}

/** The first weight (and its axis) of a consumer indexed by its input channels, as its layer type's surgery rule says. */
function inputAxisOf(node: LayerNode): [string, number] | undefined {
  const rule = layerType(node.className)?.rule?.(node);
  for (const [key, axes] of Object.entries(rule?.axes ?? {})) {
    for (const [axis, refs] of Object.entries(axes)) if (refs === node.inputRefs[0]) return [key, Number(axis)];
  }
  return undefined;
}
