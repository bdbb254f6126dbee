/**
 * What to prune: scoring functions from channel groups to one score per
 * channel, higher = more important. Every criterion aggregates over all
 * layers of a coupled group (all producers of a residual group, every BN on
 * it, every place its activations are consumed).
 *
 * Data-driven criteria read activations where the group's consumers see them:
 * walking back from each consumer's input through pooling / flatten / dropout
 * to the activation that produced it (post-ReLU in the zoo models). They use
 * the split they are given, which callers take from the training data.
 */
import * as tf from '@tensorflow/tfjs';
import seedrandom from 'seedrandom';
import { floatImages, type Split } from '../data/datasets.js';
import { layerWeight } from '../models/weights.js';
import { layerType, normalizationOf, outputKernel } from '../prune/layer-types.js';
import { execute } from '../prune/executor.js';
import type { ChannelGroup, DependencyGraph } from '../prune/graph.js';
import { CriterionError, NotApplicableError } from '../errors.js';
import { timedSync } from '../phases.js';

/** The built-in criteria: weights only, then activations and gradients, then BatchNorm scales; random last (the control). This order is the agent's observation columns'. */
export const CRITERIA = ['l1', 'l2', 'fpgm', 'apoz', 'mean-activation', 'taylor', 'bn-scale', 'random'] as const;
export type CriterionName = (typeof CRITERIA)[number];

export interface ScoringData {
  /** Images the data-driven criteria look at (a training split, never the test split). */
  split: Split;
  inputShape: [number, number, number];
  numClasses: number;
  /** How many of the split's images to use. */
  samples: number;
  batchSize: number;
}

export interface ScoreContext {
  graph: DependencyGraph;
  /** Required by apoz, mean-activation and taylor. */
  data?: ScoringData;
  /** Seed of the random criterion. */
  seed: number;
}

export type GroupScores = Map<number, Float32Array>;

/** Each producer's kernel as [channels, fan-in] rows (the output axis is last in TF.js kernels). */
export function filterRows(graph: DependencyGraph, group: ChannelGroup): tf.Tensor2D[] {
  return group.producers.map((name) => {
    const w = outputKernel(graph.node(name).layer).read();
    return tf.transpose(tf.reshape(w, [-1, w.shape[w.shape.length - 1]])) as tf.Tensor2D;
  });
}

function toArray(t: tf.Tensor): Float32Array {
  const values = t.dataSync() as Float32Array;
  t.dispose();
  return values;
}

/** Li et al. 2017: sum of absolute filter weights. */
function l1(graph: DependencyGraph, group: ChannelGroup): Float32Array {
  return toArray(tf.tidy(() => tf.addN(filterRows(graph, group).map((rows) => tf.sum(tf.abs(rows), 1)))));
}

/** Euclidean norm of the group's filters. */
function l2(graph: DependencyGraph, group: ChannelGroup): Float32Array {
  return toArray(tf.tidy(() => tf.sqrt(tf.addN(filterRows(graph, group).map((rows) => tf.sum(tf.square(rows), 1))))));
}

/** FPGM (He et al. 2019): total distance of a filter to the others; filters near the geometric median are redundant. */
function fpgm(graph: DependencyGraph, group: ChannelGroup): Float32Array {
  return toArray(
    tf.tidy(() => {
      const filters = tf.concat(filterRows(graph, group), 1);
      const squared = tf.sum(tf.square(filters), 1, true);
      const d2 = tf.relu(tf.sub(tf.add(squared, tf.transpose(squared)), tf.mul(2, tf.matMul(filters, filters, false, true))));
      return tf.sum(tf.sqrt(d2), 1);
    }),
  );
}

/** Network Slimming: |gamma| of the BatchNorm layers on the group; undefined for a group without BatchNorm. */
function bnScale(graph: DependencyGraph, group: ChannelGroup): Float32Array | undefined {
  const gammas = group.members
    .filter((m) => m.role === 'channel')
    .flatMap(({ layer: name }) => {
      const { layer } = graph.node(name);
      const normalization = normalizationOf(layer);
      return normalization === undefined ? [] : [layerWeight(layer, normalization.scale)];
    });
  if (gammas.length === 0 || gammas.some((g) => g === undefined)) return undefined;
  return toArray(tf.tidy(() => tf.addN(gammas.map((g) => tf.abs(g!.read())))));
}

function random(group: ChannelGroup, seed: number): Float32Array {
  const rng = seedrandom(`${seed}-group-${group.id}`);
  return Float32Array.from({ length: group.size }, () => rng());
}

/** Layers whose outputs carry the groups' activations as their consumers see them. */
export function activationLayers(graph: DependencyGraph, groups: ChannelGroup[]): string[] {
  const found = new Set<string>();
  for (const group of groups) {
    for (const member of group.members.filter((m) => m.role === 'in')) {
      for (let name of graph.node(member.layer).inputs) {
        while (layerType(graph.node(name).className)?.rearranges === true) name = graph.node(name).inputs[0];
        found.add(name);
      }
    }
  }
  return [...found];
}

type ActivationStat = 'apoz' | 'mean-activation' | 'taylor';

/**
 * One pass over the data; for every captured position, a statistic averaged
 * over images and spatial positions; then positions are mapped back to
 * group channels (averaging positions that hold the same channel).
 */
function activationScores(ctx: ScoreContext, groups: ChannelGroup[], stat: ActivationStat): GroupScores {
  const { graph, data } = ctx;
  if (data === undefined) throw new CriterionError(`criterion ${stat} needs data: give it a training split`);
  if (data.samples < 1 || data.split.count < 1) throw new CriterionError(`criterion ${stat} needs data: the split has no images`);
  const layers = activationLayers(graph, groups);
  const sums = new Map(layers.map((name) => [name, new Float64Array(graph.node(name).outputRefs.length)]));
  const samples = Math.min(data.samples, data.split.count);
  for (let start = 0; start < samples; start += data.batchSize) {
    const end = Math.min(start + data.batchSize, samples);
    const batchStats = tf.tidy(() => {
      const x = tf.tensor4d(floatImages(data.split, data.inputShape, start, end), [end - start, ...data.inputShape]);
      if (stat !== 'taylor') {
        const { captured } = execute(graph, x, { capture: layers, release: true });
        return layers.map((name) => {
          const a = captured.get(name)!;
          const perPosition = stat === 'apoz' ? tf.lessEqual(a, 0).toFloat() : a;
          // Sum over images of the per-image spatial mean.
          return tf.mul(tf.mean(tf.reshape(perPosition, [-1, a.shape[a.shape.length - 1]]), 0), end - start);
        });
      }
      // Taylor (Molchanov et al. 2017): per image, |spatial mean of activation x gradient|. A per-image,
      // per-channel gate of ones on each activation has exactly that sum (times the spatial size) as its gradient.
      const y = tf.oneHot(tf.tensor1d(data.split.labels.subarray(start, end), 'int32'), data.numClasses);
      const shapes = layers.map((name) => graph.node(name).layer.outputShape as number[]);
      const gateShapes = shapes.map((s) => [end - start, ...s.slice(1, -1).map(() => 1), s[s.length - 1]]);
      const gates = gateShapes.map((s) => tf.ones(s));
      const loss = (...g: tf.Tensor[]) => {
        const { output } = execute(graph, x, { gates: new Map(layers.map((name, i) => [name, g[i]])) });
        return tf.neg(tf.sum(tf.mul(y, tf.log(tf.add(output, 1e-7))))) as tf.Scalar;
      };
      const grads = tf.grads(loss)(gates);
      return grads.map((g, i) => {
        const spatial = shapes[i].slice(1, -1).reduce((a, b) => a * b, 1);
        return tf.div(tf.sum(tf.abs(tf.reshape(g, [end - start, -1])), 0), spatial);
      });
    });
    batchStats.forEach((t, i) => {
      const values = t.dataSync();
      const sum = sums.get(layers[i])!;
      for (let p = 0; p < values.length; p++) sum[p] += values[p];
      t.dispose();
    });
  }
  const totals = new Map(groups.map((g) => [g.id, { value: new Float64Array(g.size), count: new Float64Array(g.size) }]));
  for (const name of layers) {
    const sum = sums.get(name)!;
    graph.node(name).outputRefs.forEach((ref, p) => {
      const group = graph.groupOf(ref);
      const total = group === undefined ? undefined : totals.get(group.id);
      if (total === undefined) return;
      total.value[ref.index] += sum[p] / samples;
      total.count[ref.index] += 1;
    });
  }
  const scores: GroupScores = new Map();
  for (const [id, { value, count }] of totals) {
    // APoZ: a channel that is mostly zero is unimportant, so the score is the share of non-zeros.
    scores.set(
      id,
      Float32Array.from(value, (v, c) => (stat === 'apoz' ? 1 - v / count[c] : v / count[c])),
    );
  }
  return scores;
}

/**
 * A criterion as a value: whatever takes a criterion name (pruneToTolerance,
 * pruneToRatio, scoreGroups) also takes one of these, so a user can bring
 * their own scoring.
 */
export interface Criterion {
  name: string;
  /** Reads activations or gradients, so needs `ScoreContext.data` (training images). */
  needsData: boolean;
  /** Whether the agent's observation carries its scores (default true; random's carry no information). */
  observed?: boolean;
  /** One score per channel of each group, higher = keep. A group left out of the map keeps all its channels. */
  score(ctx: ScoreContext, groups: ChannelGroup[]): GroupScores;
}

/** A criterion that scores each group on its own from its weights. */
const perGroup = (name: CriterionName, score: (ctx: ScoreContext, group: ChannelGroup) => Float32Array): Criterion => ({
  name,
  needsData: false,
  score: (ctx, groups) => new Map(groups.map((g) => [g.id, score(ctx, g)])),
});
const fromActivations = (name: ActivationStat): Criterion => ({ name, needsData: true, score: (ctx, groups) => activationScores(ctx, groups, name) });

export const BUILTIN_CRITERIA: Record<CriterionName, Criterion> = {
  l1: perGroup('l1', (ctx, g) => l1(ctx.graph, g)),
  l2: perGroup('l2', (ctx, g) => l2(ctx.graph, g)),
  fpgm: perGroup('fpgm', (ctx, g) => fpgm(ctx.graph, g)),
  apoz: fromActivations('apoz'),
  'mean-activation': fromActivations('mean-activation'),
  taylor: fromActivations('taylor'),
  'bn-scale': { name: 'bn-scale', needsData: false, score: (ctx, groups) => bnScaleGroups(ctx.graph, groups) },
  random: { ...perGroup('random', (ctx, g) => random(g, ctx.seed)), observed: false },
};

/** Criteria added by registerCriterion, after the built-ins. */
const registered: Criterion[] = [];

/**
 * Adds a criterion of your own to the agent's observation (unless it says
 * `observed: false`). Pass the value itself where a criterion name goes
 * (pruneToRatio, pruneToTolerance, scoreGroups) to prune by it.
 */
export function registerCriterion(criterion: Criterion): void {
  if ((CRITERIA as readonly string[]).includes(criterion.name) || registered.some((c) => c.name === criterion.name))
    throw new CriterionError(`criterion ${criterion.name}: a criterion of that name is already registered`);
  registered.push(criterion);
}

/** The criteria whose scores the agent observes: the built-ins in CRITERIA's order, then the registered ones in the order they came. */
export function observedCriteria(): Criterion[] {
  return [...CRITERIA.map((name) => BUILTIN_CRITERIA[name]), ...registered].filter((c) => c.observed !== false);
}

/** The criterion a name stands for, or the criterion given. */
export function criterionOf(criterion: CriterionName | Criterion): Criterion {
  return typeof criterion === 'string' ? BUILTIN_CRITERIA[criterion] : criterion;
}

/** Scores every group in `groups` by the criterion. */
export function scoreGroups(criterion: CriterionName | Criterion, ctx: ScoreContext, groups: ChannelGroup[]): GroupScores {
  return timedSync('criteria', () => criterionOf(criterion).score(ctx, groups));
}

/**
 * bn-scale scores only the groups with BatchNorm (as Torch-Pruning does): the
 * others are left out of the plan and keep every channel. A model where no
 * group has BatchNorm cannot be pruned by it.
 */
function bnScaleGroups(graph: DependencyGraph, groups: ChannelGroup[]): GroupScores {
  const scores: GroupScores = new Map();
  for (const g of groups) {
    const s = bnScale(graph, g);
    if (s !== undefined) scores.set(g.id, s);
  }
  if (scores.size === 0 && groups.length > 0) {
    const names = groups.map((g) => `group ${g.id} (${g.producers.join(', ')})`).join(', ');
    throw new NotApplicableError(`criterion bn-scale: no BatchNormalization with a scale (gamma) follows any prunable group: ${names}`);
  }
  return scores;
}

/** Indices of the `keep` highest scores, in ascending channel order (ties keep the lower index). */
export function topChannels(scores: ArrayLike<number>, keep: number): number[] {
  const order = Array.from(scores, (_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
  return order.slice(0, keep).sort((a, b) => a - b);
}
