/**
 * How to prune: builds a new, smaller model from a dependency graph and the
 * channels to keep per group. Each layer type has one small rule naming which
 * weight axes are indexed by which channel references; surgery gathers the
 * kept positions along those axes and shrinks `filters` / `units`. The
 * original model is never modified.
 */
import * as tf from '@tensorflow/tfjs';
import '../models/tfjs-fixes.js';
import { weightKey } from '../models/weights.js';
import { type ChannelGroup, DependencyGraph } from './graph.js';
import { type ChannelRef, type LayerNode, layerType } from './layer-types.js';
import { describeArgument } from '../arguments.js';
import { GraphError, PruneError } from '../errors.js';
import { timed } from '../phases.js';

/** Channels to keep per group id; groups not named keep all their channels. */
export type KeepPlan = Map<number, number[]>;

/** Checks the plan against the graph and returns it as sorted sets of kept channels. */
export function validatePlan(graph: DependencyGraph, plan: KeepPlan): Map<number, Set<number>> {
  const checked = new Map<number, Set<number>>();
  for (const [groupId, channels] of plan) {
    let group: ChannelGroup;
    try {
      group = graph.group(groupId);
    } catch (err) {
      throw new PruneError((err as GraphError).message);
    }
    const label = `group ${groupId} (${group.producers.join(', ')})`;
    if (!group.prunable) throw new PruneError(`${label} cannot be pruned: ${group.reason}`);
    if (channels.length === 0) throw new PruneError(`${label}: the keep list is empty; a group keeps at least one channel`);
    const kept = new Set<number>();
    for (const c of channels) {
      if (!Number.isInteger(c) || c < 0 || c >= group.size)
        throw new PruneError(`${label}: channel ${c} does not exist (the group has channels 0..${group.size - 1})`);
      if (kept.has(c)) throw new PruneError(`${label}: channel ${c} is listed twice`);
      kept.add(c);
    }
    if (kept.size < group.size) checked.set(groupId, kept);
  }
  return checked;
}

/** Positions of a reference list that survive the plan, or undefined when all do. */
function keptPositions(graph: DependencyGraph, plan: Map<number, Set<number>>, refs: ChannelRef[]): number[] | undefined {
  const positions: number[] = [];
  refs.forEach((ref, p) => {
    const group = graph.groupOf(ref);
    const kept = group === undefined ? undefined : plan.get(group.id);
    if (kept === undefined || kept.has(ref.index)) positions.push(p);
  });
  return positions.length === refs.length ? undefined : positions;
}

/**
 * Gathers the kept positions along each axis. The result is rebuilt from its
 * values: wasm's Gather records its output under an internal 4-D shape, which
 * its FusedConv2D then rejects as a bias.
 */
function sliceWeight(weight: tf.Tensor, axes: Record<number, number[] | undefined>): tf.Tensor {
  const sliced = tf.tidy(() => {
    let out = weight;
    for (const [axis, positions] of Object.entries(axes)) {
      if (positions !== undefined) out = tf.gather(out, positions, Number(axis));
    }
    return out === weight ? weight.clone() : out;
  });
  const fresh = tf.tensor(sliced.dataSync(), sliced.shape, sliced.dtype);
  sliced.dispose();
  return fresh;
}

interface LayerJson {
  class_name: string;
  config: Record<string, unknown> & { name: string };
}

/** A layer's pruned form: its new output-channel count (if it has one) and sliced weights. */
interface PrunedLayer {
  resize?: { field: 'filters' | 'units'; count: number };
  weights: tf.Tensor[];
}

/** Slices one layer by a validated plan; undefined for layers that carry no channel-indexed weights. */
function pruneLayer(graph: DependencyGraph, kept: Map<number, Set<number>>, node: LayerNode): PrunedLayer | undefined {
  const ruleFor = layerType(node.className)?.rule;
  if (ruleFor === undefined) return undefined;
  const rule = ruleFor(node);
  const resize = rule.resize && { field: rule.resize.field, count: keptPositions(graph, kept, rule.resize.refs)?.length ?? rule.resize.refs.length };
  const weights = node.layer.weights.map((variable) => {
    const axes = rule.axes[weightKey(variable)] ?? {};
    const positions = Object.fromEntries(Object.entries(axes).map(([axis, refs]) => [axis, keptPositions(graph, kept, refs)]));
    return sliceWeight(variable.read(), positions);
  });
  return { resize, weights };
}

/**
 * Returns a new model with the channels outside `plan` removed from every
 * layer the graph couples to them.
 */
export const pruneModel = (graph: DependencyGraph, plan: KeepPlan): Promise<tf.LayersModel> => timed('surgery', () => prunedModel(graph, plan));

async function prunedModel(graph: DependencyGraph, plan: KeepPlan): Promise<tf.LayersModel> {
  if (!(graph instanceof DependencyGraph)) throw new PruneError(`pruneModel: expected a DependencyGraph (buildGraph(model)), got ${describeArgument(graph)}`);
  if (!(plan instanceof Map)) throw new PruneError(`pruneModel: the plan must be a Map from group id to the channels to keep, got ${describeArgument(plan)}`);
  const kept = validatePlan(graph, plan);
  const topology = graph.model.toJSON(null, false) as unknown as { config: { layers: LayerJson[] } };
  const configs = new Map(topology.config.layers.map((l) => [l.config.name, l.config]));
  const newWeights = new Map<string, tf.Tensor[]>();
  for (const name of graph.order) {
    const pruned = pruneLayer(graph, kept, graph.node(name));
    if (pruned === undefined) continue;
    if (pruned.resize !== undefined) {
      const config = configs.get(name);
      if (config === undefined) throw new GraphError(`layer "${name}" is missing from the model topology`);
      config[pruned.resize.field] = pruned.resize.count;
    }
    newWeights.set(name, pruned.weights);
  }

  const model = await tf.models.modelFromJSON({ modelTopology: topology as unknown as tf.io.ModelJSON['modelTopology'] });
  for (const layer of model.layers) {
    const weights = newWeights.get(layer.name) ?? graph.nodes.get(layer.name)?.layer.getWeights();
    if (weights !== undefined && weights.length > 0) layer.setWeights(weights);
    if (newWeights.has(layer.name)) tf.dispose(weights);
  }
  return model;
}

/**
 * Standalone pruned copies of the named layers, built for their pruned input
 * and holding sliced weights: what the environment swaps in to evaluate a
 * candidate without rebuilding the model. Dispose them after use.
 */
export function prunedLayers(graph: DependencyGraph, plan: KeepPlan, names: Iterable<string>): Map<string, tf.layers.Layer> {
  const kept = validatePlan(graph, plan);
  const layers = new Map<string, tf.layers.Layer>();
  for (const name of names) {
    const node = graph.node(name);
    const pruned = pruneLayer(graph, kept, node);
    if (pruned === undefined) continue;
    const config = { ...node.layer.getConfig(), ...(pruned.resize && { [pruned.resize.field]: pruned.resize.count }) };
    const Layer = node.layer.constructor as new (config: object) => tf.layers.Layer;
    const layer = new Layer(config);
    const inputShape = (graph.node(node.inputs[0]).layer.outputShape as (number | null)[]).slice(0, -1);
    const inputChannels = keptPositions(graph, kept, node.inputRefs[0])?.length ?? node.inputRefs[0].length;
    buildWithWeights(layer, [...inputShape, inputChannels], pruned.weights);
    tf.dispose(pruned.weights);
    layers.set(name, layer);
  }
  return layers;
}

/**
 * A standalone layer's weight: a core variable with what a layer's call,
 * setWeights and getWeights use of tf.layers' LayerVariable. A LayerVariable
 * registers its name in a table tfjs-layers keeps for the life of the
 * process (about 100 bytes per variable, never freed), and its layer's build
 * first fills it from the initializer; the agent builds standalone layers
 * for every candidate it scores, so it uses these instead.
 */
/** What a layer's weight constraint (max-norm, non-negative, ...) offers. */
type WeightConstraint = { apply(weight: tf.Tensor): tf.Tensor };

class StandaloneWeight {
  readonly id: number;
  readonly originalName: string;
  readonly name: string;
  private value?: tf.Variable;

  constructor(
    name: string,
    readonly shape: number[],
    readonly dtype: tf.DataType,
    readonly trainable: boolean,
    /** Applied on every write, as a LayerVariable does (the model pruneModel builds is constrained alike). */
    private readonly constraint?: WeightConstraint,
  ) {
    this.id = ++standaloneWeights;
    [this.originalName, this.name] = [name, name];
  }

  read(): tf.Variable {
    if (this.value === undefined) throw new Error(`weight ${this.name} read before it was set`);
    return this.value;
  }

  write(value: tf.Tensor): this {
    if (this.value === undefined) this.value = tf.variable(value, false);
    else if (this.value.id !== value.id)
      this.value.assign(value); // assigning a variable to itself would free its data
    else return this;
    if (this.constraint) {
      const constrained = this.constraint.apply(this.value);
      this.value.assign(constrained);
      constrained.dispose();
    }
    return this;
  }

  dispose(): void {
    this.value?.dispose();
  }
}
let standaloneWeights = 0;

/** Builds `layer` for `inputShape` with `weights` (in layer.weights order) in StandaloneWeights. */
function buildWithWeights(layer: tf.layers.Layer, inputShape: (number | null)[], weights: tf.Tensor[]): void {
  const [trainable, nonTrainable]: StandaloneWeight[][] = [[], []];
  // build() makes its weights through addWeight (kernel, bias, gamma, ...); this instance makes them standalone.
  Object.assign(layer, {
    addWeight: (
      name: string,
      shape: number[],
      dtype: tf.DataType | undefined,
      _init: unknown,
      _regularizer: unknown,
      isTrainable?: boolean | null,
      constraint?: WeightConstraint | null,
    ) => {
      // As tf.layers' addWeight: a weight is trainable unless it says otherwise.
      const weight = new StandaloneWeight(name, shape, dtype ?? 'float32', isTrainable ?? true, constraint ?? undefined);
      (weight.trainable ? trainable : nonTrainable).push(weight);
      return weight;
    },
  });
  layer.build(inputShape);
  layer.built = true;
  // A StandaloneWeight does what a layer asks of a LayerVariable (read, write, dispose, names, shape).
  layer.trainableWeights = trainable as unknown as tf.LayerVariable[];
  layer.nonTrainableWeights = nonTrainable as unknown as tf.LayerVariable[];
  const all = [...trainable, ...nonTrainable];
  if (all.length !== weights.length) throw new Error(`layer ${layer.name}: ${all.length} weights built, ${weights.length} given`);
  all.forEach((weight, i) => {
    if (!tf.util.arraysEqual(weight.shape, weights[i].shape))
      throw new Error(`layer ${layer.name}: weight ${weight.name} is ${weight.shape}, given ${weights[i].shape}`);
    weight.write(weights[i]);
  });
}

/** Frees the weights of layers made by prunedLayers (Layer.dispose refuses layers never called). */
export function disposeLayers(layers: Map<string, tf.layers.Layer>): void {
  for (const layer of layers.values()) for (const variable of layer.weights) variable.dispose();
}
