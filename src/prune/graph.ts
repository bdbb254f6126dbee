/**
 * What is coupled: a dependency graph over the layers of a TF.js layers model.
 *
 * Every layer output's last (channel) axis is described as a list of channel
 * references: position p of the tensor holds channel `index` of channel
 * space `space`. A conv or dense layer opens a new space (its filters / units);
 * pass-through layers (BatchNorm, activations, pooling, ...) hand their input's
 * list on; flatten repeats it once per spatial position (NHWC: feature
 * k*C + c is channel c); concatenate joins lists; element-wise merges (a
 * residual add) unite their inputs' spaces, so that they are pruned together.
 * The united spaces are the channel groups: pruning channel i of a group
 * removes position i from every space in it, and so from every weight axis
 * whose positions refer to it.
 */
import type * as tf from '@tensorflow/tfjs';
import { type ChannelRef, type LayerKind, type LayerNode, layerType, normalizationOf } from './layer-types.js';
import { checkModelArgument } from '../arguments.js';
import { GraphError } from '../errors.js';

export type { ChannelRef, LayerNode } from './layer-types.js';

/** Pass-through layers whose output channel depends on other channels: pruning across them changes the result. */
function mixesChannels(layer: tf.layers.Layer): boolean {
  const cls = layer.getClassName();
  const config = layer.getConfig() as { activation?: string };
  return cls === 'Softmax' || (cls === 'Activation' && config.activation === 'softmax');
}

export interface GroupMember {
  layer: string;
  /** out: produces the channels; in: consumes them on an input axis; channel: carries per-channel weights (BN, depthwise). */
  role: 'out' | 'in' | 'channel';
}

export interface ChannelGroup {
  id: number;
  /** Channels in the group (all its spaces have this size). */
  size: number;
  /** Layers whose output channels are the group's channels (several after a residual add). */
  producers: string[];
  /** Every layer with a weight axis indexed by the group's channels. */
  members: GroupMember[];
  prunable: boolean;
  /** Why the group cannot be pruned. */
  reason?: string;
}

interface Space {
  id: number;
  size: number;
  producer?: string;
  /** Set when the space may never be pruned. */
  blocked?: string;
}

/** Union-find over channel spaces. */
class Spaces {
  readonly all: Space[] = [];
  private readonly parent: number[] = [];

  open(size: number, producer?: string, blocked?: string): ChannelRef[] {
    const id = this.all.length;
    this.all.push({ id, size, producer, blocked });
    this.parent.push(id);
    return Array.from({ length: size }, (_, index) => ({ space: id, index }));
  }

  root(id: number): number {
    while (this.parent[id] !== id) {
      this.parent[id] = this.parent[this.parent[id]];
      id = this.parent[id];
    }
    return id;
  }

  unite(a: number, b: number): void {
    const [ra, rb] = [this.root(a), this.root(b)];
    if (ra !== rb) this.parent[Math.max(ra, rb)] = Math.min(ra, rb);
  }

  block(id: number, reason: string): void {
    this.all[id].blocked ??= reason;
  }
}

/** True when refs are channels 0..n-1 of one space, in order. */
function wholeSpace(refs: ChannelRef[], spaces: Spaces): Space | undefined {
  if (refs.length === 0) return undefined;
  const space = spaces.all[refs[0].space];
  if (space.size !== refs.length || refs.some((r, i) => r.space !== space.id || r.index !== i)) return undefined;
  return space;
}

function lastDim(shape: tf.Shape | tf.Shape[], layer: string): number {
  const s = (Array.isArray(shape[0]) ? shape[0] : shape) as tf.Shape;
  const d = s[s.length - 1];
  if (d === null || d === undefined) throw new GraphError(`layer "${layer}": unknown channel count in output shape ${JSON.stringify(shape)}`);
  return d;
}

export class DependencyGraph {
  readonly nodes = new Map<string, LayerNode>();
  /** Layer names in topological order (inputs first). */
  readonly order: string[] = [];
  readonly groups: ChannelGroup[] = [];
  private readonly spaces = new Spaces();
  private readonly groupOfRoot = new Map<number, ChannelGroup>();

  constructor(readonly model: tf.LayersModel) {
    for (const layer of model.layers) this.addLayer(layer);
    this.blockOutputs();
    this.collectGroups();
  }

  /** The group a channel reference belongs to (undefined for spaces not in a group, e.g. the image channels). */
  groupOf(ref: ChannelRef): ChannelGroup | undefined {
    return this.groupOfRoot.get(this.spaces.root(ref.space));
  }

  group(id: number): ChannelGroup {
    const group = this.groups[id];
    if (group === undefined) throw new GraphError(`group ${id} does not exist (the model has groups 0..${this.groups.length - 1})`);
    return group;
  }

  node(name: string): LayerNode {
    const node = this.nodes.get(name);
    if (node === undefined) throw new GraphError(`no layer named "${name}"`);
    return node;
  }

  /** The named layers and every layer that depends on them, in topological order. */
  downstreamOf(names: Iterable<string>): string[] {
    const reached = new Set(names);
    for (const name of this.order) if (this.node(name).inputs.some((i) => reached.has(i))) reached.add(name);
    return this.order.filter((name) => reached.has(name));
  }

  /** Groups that may be pruned, in topological order of their first producer. */
  prunableGroups(): ChannelGroup[] {
    return this.groups.filter((g) => g.prunable);
  }

  private inputNode(layer: tf.layers.Layer, name: string): void {
    const refs = this.spaces.open(lastDim(layer.outputShape, name), undefined, 'connected to the model input');
    this.nodes.set(name, { name, className: 'InputLayer', kind: 'input', layer, inputs: [], inputRefs: [], outputRefs: refs });
    this.order.push(name);
  }

  private addLayer(layer: tf.layers.Layer): void {
    const className = layer.getClassName();
    if (className === 'Sequential' || className === 'Model' || className === 'Functional') {
      throw new GraphError(
        `layer "${layer.name}" (${className}) is a nested model: flatten the model first (flattenModel; loadModel does it when it reads a file)`,
      );
    }
    if (layer.inboundNodes.length !== 1) {
      throw new GraphError(`layer "${layer.name}" (${className}) is called ${layer.inboundNodes.length} times; shared layers cannot be pruned`);
    }
    const inboundLayers = layer.inboundNodes[0].inboundLayers;
    // Sequential models keep their InputLayer out of model.layers: add it on first sight.
    for (const inbound of inboundLayers) {
      if (!this.nodes.has(inbound.name) && inbound.getClassName() === 'InputLayer') this.inputNode(inbound, inbound.name);
    }
    if (className === 'InputLayer') {
      if (!this.nodes.has(layer.name)) this.inputNode(layer, layer.name);
      return;
    }
    const kind = layerType(className)?.kind ?? (mixesChannels(layer) ? 'passthrough' : undefined);
    if (kind === undefined) {
      throw new GraphError(`layer "${layer.name}" (${className}): autoprune cannot trace channels through this layer type`);
    }
    const inputs = inboundLayers.map((l) => l.name);
    const inputRefs = inputs.map((name) => {
      const node = this.nodes.get(name);
      if (node === undefined) throw new GraphError(`layer "${layer.name}": input "${name}" was not seen before it`);
      return node.outputRefs;
    });
    const inputShape = inboundLayers[0]?.outputShape as tf.Shape | undefined;
    const outputRefs = this.outputRefs(layer, className, kind, inputRefs, inputShape);
    this.nodes.set(layer.name, { name: layer.name, className, kind, layer, inputs, inputRefs, outputRefs });
    this.order.push(layer.name);
  }

  private outputRefs(layer: tf.layers.Layer, className: string, kind: LayerKind, inputRefs: ChannelRef[][], inputShape: tf.Shape | undefined): ChannelRef[] {
    const config = layer.getConfig() as { axis?: number | number[]; depthMultiplier?: number; dataFormat?: string };
    if (config.dataFormat === 'channelsFirst') throw new GraphError(`layer "${layer.name}" (${className}): channels-first layers are not supported`);
    switch (kind) {
      case 'producer':
        return this.spaces.open(lastDim(layer.outputShape, layer.name), layer.name);
      case 'depthwise': {
        const multiplier = config.depthMultiplier ?? 1;
        return inputRefs[0].flatMap((ref) => Array.from({ length: multiplier }, () => ref));
      }
      case 'passthrough': {
        if (normalizationOf(layer) !== undefined) {
          const axis = Array.isArray(config.axis) ? config.axis : [config.axis ?? -1];
          const rank = (layer.inputSpec?.[0]?.ndim ?? (layer.outputShape as tf.Shape).length) as number;
          if (axis.length !== 1 || (axis[0] !== -1 && axis[0] !== rank - 1)) {
            throw new GraphError(
              `layer "${layer.name}" (${className}): only normalisation over the last axis is supported, got axis ${JSON.stringify(config.axis)}`,
            );
          }
        }
        if (mixesChannels(layer)) for (const ref of inputRefs[0]) this.spaces.block(ref.space, `softmax over channels at "${layer.name}"`);
        return inputRefs[0];
      }
      case 'flatten': {
        const spatial = (inputShape ?? []).slice(1, -1).reduce((a: number, b) => a * (b ?? NaN), 1);
        if (!Number.isInteger(spatial))
          throw new GraphError(`layer "${layer.name}" (Flatten): input shape ${JSON.stringify(inputShape)} has unknown dimensions`);
        return Array.from({ length: spatial }, () => inputRefs[0]).flat();
      }
      case 'concat': {
        const axis = (config.axis as number | undefined) ?? -1;
        const rank = (layer.outputShape as tf.Shape).length;
        if (axis !== -1 && axis !== rank - 1)
          throw new GraphError(`layer "${layer.name}" (Concatenate): only concatenation along the channel axis is supported, got axis ${axis}`);
        return inputRefs.flat();
      }
      case 'merge': {
        const first = wholeSpace(inputRefs[0], this.spaces);
        for (const refs of inputRefs) {
          const space = wholeSpace(refs, this.spaces);
          if (first === undefined || space === undefined) {
            // Positions of these inputs are not one space each (e.g. a concatenation): keep them whole.
            for (const list of inputRefs)
              for (const ref of list) this.spaces.block(ref.space, `merged at "${layer.name}" with a tensor that is not one channel group`);
            return inputRefs[0];
          }
          this.spaces.unite(first.id, space.id);
        }
        return inputRefs[0];
      }
      default:
        throw new GraphError(`layer "${layer.name}" (${className}): unexpected layer kind ${kind}`);
    }
  }

  /** The model's outputs (the classifier) keep every channel. */
  private blockOutputs(): void {
    for (const output of this.model.outputs) {
      const layer = output.sourceLayer;
      for (const ref of this.node(layer.name).outputRefs) this.spaces.block(ref.space, `feeds the model output "${layer.name}"`);
    }
  }

  private collectGroups(): void {
    // Blocked reasons spread to the whole united set.
    const blockedRoot = new Map<number, string>();
    for (const space of this.spaces.all) {
      const root = this.spaces.root(space.id);
      if (space.blocked !== undefined && !blockedRoot.has(root)) blockedRoot.set(root, space.blocked);
    }
    for (const name of this.order) {
      const node = this.node(name);
      const add = (ref: ChannelRef, role: GroupMember['role']) => {
        const root = this.spaces.root(ref.space);
        let group = this.groupOfRoot.get(root);
        if (group === undefined) {
          const space = this.spaces.all[root];
          if (space.producer === undefined && role !== 'out') return; // the image channels
          const reason = blockedRoot.get(root);
          group = { id: this.groups.length, size: space.size, producers: [], members: [], prunable: reason === undefined, reason };
          this.groups.push(group);
          this.groupOfRoot.set(root, group);
        }
        if (!group.members.some((m) => m.layer === name && m.role === role)) group.members.push({ layer: name, role });
        if (role === 'out' && !group.producers.includes(name)) group.producers.push(name);
      };
      if (node.kind === 'producer') {
        for (const ref of node.outputRefs) add(ref, 'out');
        for (const ref of node.inputRefs[0]) add(ref, 'in');
      } else if (node.kind === 'depthwise' || layerType(node.className)?.rule !== undefined) {
        // Carries weights per channel (BatchNorm, a depthwise kernel, a registered layer with a rule).
        for (const ref of node.inputRefs[0]) add(ref, 'channel');
      }
    }
  }
}

export function buildGraph(model: tf.LayersModel): DependencyGraph {
  checkModelArgument(model, 'buildGraph');
  return new DependencyGraph(model);
}

/**
 * Checks, before any run folder is made, that `model` (read from `source`) can
 * be pruned: its layers are traceable (else the GraphError names the layer)
 * and at least one channel group is prunable.
 */
export function checkPrunable(model: tf.LayersModel, source: string): void {
  const graph = buildGraph(model);
  if (graph.prunableGroups().length > 0) return;
  const reasons = [...new Set(graph.groups.map((g) => g.reason).filter((r) => r !== undefined))];
  throw new GraphError(`${source}: nothing to prune: no prunable channel group${reasons.length > 0 ? ` (${reasons.join('; ')})` : ''}`);
}
