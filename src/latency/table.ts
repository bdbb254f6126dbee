/**
 * A latency model of a network on a target (NetAdapt, HALP): every layer
 * timed alone at a grid of its input and output widths, on the target's
 * backend at the batch size and input size the model runs at; a pruned
 * network's time is predicted as the sum of its layers' interpolated times
 * plus what the whole network costs beyond its layers (measured once on the
 * unpruned network).
 *
 * A layer's widths follow the channel groups linearly (a conv's output is its
 * group's kept count; a dense layer after a flatten reads positions x kept),
 * so a prediction needs only the kept count per group.
 */
import * as tf from '@tensorflow/tfjs';
import { buildGraph, type ChannelRef, type DependencyGraph, type LayerNode } from '../prune/graph.js';
import { layerType } from '../prune/layer-types.js';
import { type KeepPlan, pruneModel } from '../prune/surgery.js';
import type { LatencyTarget } from './target.js';
import { timed } from '../phases.js';

/** A width as the kept counts make it: fixed + sum over groups of perGroup[g] x kept[g]. */
export interface Width {
  fixed: number;
  perGroup: Record<number, number>;
}

export interface LayerTiming {
  layer: string;
  className: string;
  /** The width of the layer's first input, and of its output. */
  input: Width;
  output: Width;
  /** The output width follows the input's (a layer with no filters or units of its own): one axis. */
  tied: boolean;
  inputWidths: number[];
  /** Absent when tied. */
  outputWidths?: number[];
  /** Milliseconds per call of the layer at each grid point (row-major: input x output): the fastest round with it minus the fastest without. */
  ms: number[];
}

export interface LatencyTable {
  /** The target's description, e.g. "wasm in this process (2 threads)". */
  target: string;
  batch: number;
  /** Each prunable group's channel count in the network timed. */
  groups: Record<number, number>;
  /** The whole unpruned network, measured. */
  wholeMs: number;
  /**
   * A pruned network's time is offsetMs + scale x (the sum of its layers'
   * times): fitted by least squares to the whole network timed at full width
   * and with every group at a quarter and at half of its channels (layers
   * timed alone shrink faster than in a network, where what each call costs
   * beyond its arithmetic stays).
   */
  offsetMs: number;
  scale: number;
  layers: LayerTiming[];
  /** Median over the grid of the rounds' spread, (max - min) / median: how noisy the timings were. */
  noise: number;
  /** Seconds the measurement took. */
  seconds: number;
}

/** Share of a group's channels at the grid points of each varying width. */
const GRID = [0.05, 0.25, 0.5, 0.75, 1];

/** Channel counts per group id; groups left out keep every channel. */
export type KeptCounts = Record<number, number>;

function widthOf(graph: DependencyGraph, refs: ChannelRef[]): Width {
  const counts = new Map<number, number>();
  let fixed = 0;
  for (const ref of refs) {
    const group = graph.groupOf(ref);
    if (group?.prunable) counts.set(group.id, (counts.get(group.id) ?? 0) + 1);
    else fixed++;
  }
  return { fixed, perGroup: Object.fromEntries([...counts].map(([id, n]) => [id, n / graph.group(id).size])) };
}

export function widthAt(width: Width, kept: KeptCounts, sizes: Record<number, number>): number {
  return Object.entries(width.perGroup).reduce((sum, [id, per]) => sum + per * (kept[Number(id)] ?? sizes[Number(id)]), width.fixed);
}

/** The width when every group it follows keeps `share` of its channels. */
const widthAtShare = (width: Width, sizes: Record<number, number>, share: number) =>
  Math.max(1, Math.round(widthAt(width, Object.fromEntries(Object.keys(width.perGroup).map((id) => [id, share * sizes[Number(id)]])), sizes)));

const varies = (width: Width) => Object.keys(width.perGroup).length > 0;
const gridOf = (width: Width, sizes: Record<number, number>) =>
  varies(width) ? [...new Set(GRID.map((share) => widthAtShare(width, sizes, share)))] : [widthAt(width, {}, sizes)];

type LayerJson = { class_name: string; config: Record<string, unknown> };

/**
 * A model of `entry` alone, fed inputs of `shapes` (without the batch axis),
 * its output field set to `resize`; with `reduce`, its output averaged over
 * the image (so that reading it back costs what reading a whole network's
 * output does, not the layer's whole feature map).
 */
function singleLayerTopology(entry: LayerJson, shapes: number[][], resize?: { field: string; width: number }, reduce = false): object {
  const inputs = shapes.map((shape, i) => ({
    class_name: 'InputLayer',
    name: `in${i}`,
    config: { batch_input_shape: [null, ...shape], dtype: 'float32', sparse: false, name: `in${i}` },
    inbound_nodes: [],
  }));
  const { batch_input_shape: _, ...config } = entry.config;
  if (resize !== undefined) config[resize.field] = resize.width;
  const layer = {
    class_name: entry.class_name,
    name: 'timed',
    config: { ...config, name: 'timed' },
    inbound_nodes: [inputs.map((input) => [input.name, 0, 0, {}])],
  };
  const average = {
    class_name: 'GlobalAveragePooling2D',
    name: 'reduce',
    config: { name: 'reduce', data_format: 'channels_last', trainable: true, dtype: 'float32' },
    inbound_nodes: [[['timed', 0, 0, {}]]],
  };
  return {
    class_name: 'Model',
    config: {
      name: 'timing',
      layers: [...inputs, layer, ...(reduce ? [average] : [])],
      input_layers: inputs.map((i) => [i.name, 0, 0]),
      output_layers: [[reduce ? 'reduce' : 'timed', 0, 0]],
    },
  };
}

/** Passes its input on unchanged: what a timing costs with no layer in it. */
const IDENTITY: LayerJson = { class_name: 'Activation', config: { activation: 'linear', name: 'identity', trainable: true, dtype: 'float32' } };

/**
 * A grid point's two models: the layer (its feature map averaged when it is
 * one), and the same without the layer, fed what the layer outputs: their
 * difference is the layer's time.
 */
async function pointPair(entry: LayerJson, shapes: number[][], resize?: { field: string; width: number }): Promise<[object, object]> {
  const alone = await buildTopology(singleLayerTopology(entry, shapes, resize));
  const output = (alone.outputs[0].shape as number[]).slice(1);
  alone.dispose();
  const reduce = output.length === 3;
  return [singleLayerTopology(entry, shapes, resize, reduce), singleLayerTopology(IDENTITY, [output], undefined, reduce)];
}

const buildTopology = (topology: object) => tf.models.modelFromJSON({ modelTopology: topology as tf.io.ModelJSON['modelTopology'] });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/**
 * A timing's estimate: its fastest round. What other work on the machine adds
 * is never negative, so the fastest round is the closest to the cost itself;
 * the spread of the rounds is kept as the noise.
 */
const fastest = (xs: number[]) => Math.min(...xs);
const spreadOf = (xs: number[]) => (Math.max(...xs) - Math.min(...xs)) / median(xs);

/** Models timed in one alternated call at most: enough to spread drift over them, few enough to hold. */
const CHUNK = 48;

/**
 * Times every layer of `model` alone at the grid of its widths, and the
 * whole model, on `target` at `batch`. `rounds` alternated rounds per point.
 */
export const measureLatencyTable = (...args: Parameters<typeof measureTable>) => timed('latency', () => measureTable(...args));

async function measureTable(
  model: tf.LayersModel,
  target: LatencyTarget,
  { batch = 1, rounds = 3, onProgress }: { batch?: number; rounds?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<LatencyTable> {
  const started = performance.now();
  const graph = buildGraph(model);
  const sizes = Object.fromEntries(graph.prunableGroups().map((g) => [g.id, g.size]));
  const topology = model.toJSON(null, false) as unknown as { config: { layers: (LayerJson & { name?: string })[] } };
  const entries = new Map(topology.config.layers.map((l) => [(l.config.name as string | undefined) ?? l.name, l]));
  const plans: { timing: Omit<LayerTiming, 'ms'>; points: [object, object][] }[] = [];
  for (const name of graph.order) {
    const node = graph.node(name);
    if (node.kind === 'input') continue;
    const resizeField = layerType(node.className)?.rule?.(node).resize?.field;
    const timing = layerTimingPlan(graph, node, sizes, resizeField !== undefined);
    const entry = entries.get(name)!;
    const shapes = (input: number) => inputShapes(node, graph, sizes, input);
    const resize = (out: number) => (resizeField === undefined ? undefined : { field: resizeField, width: out });
    const points = timing.tied
      ? await Promise.all(timing.inputWidths.map((w) => pointPair(entry, shapes(w))))
      : (await Promise.all(timing.inputWidths.map((w) => Promise.all(timing.outputWidths!.map((out) => pointPair(entry, shapes(w), resize(out))))))).flat();
    plans.push({ timing, points });
  }
  const all = plans.flatMap((p) => p.points.flat());
  const samples: number[][] = [];
  let whole: number[] = [];
  for (let start = 0; start < all.length; start += CHUNK) {
    // Each chunk times the whole network too, so that it sees the same machine as the layers.
    const models = await Promise.all(all.slice(start, start + CHUNK).map(buildTopology));
    const timed = await target.time([model, ...models], batch, { rounds, minBlockMs: 10 });
    for (const m of models) m.dispose();
    whole = whole.concat(timed[0]);
    samples.push(...timed.slice(1));
    onProgress?.(Math.min(start + CHUNK, all.length), all.length);
  }
  let next = 0;
  const pointMs = () => {
    const [withLayer, without] = [fastest(samples[next]), fastest(samples[next + 1])];
    next += 2;
    return Math.max(0, withLayer - without);
  };
  const layers = plans.map(({ timing, points }) => ({ ...timing, ms: points.map(pointMs) }));
  const wholeMs = fastest(whole);
  const table: LatencyTable = {
    target: target.description,
    batch,
    groups: sizes,
    wholeMs,
    offsetMs: 0,
    scale: 1,
    layers,
    noise: median(samples.map(spreadOf)),
    seconds: (performance.now() - started) / 1000,
  };
  // The calibration: the network whole and uniformly pruned, timed together.
  const shares = [1, 0.5, 0.25];
  const uniform = (share: number) => Object.fromEntries(Object.entries(sizes).map(([id, size]) => [id, Math.max(1, Math.round(share * size))]));
  const pruned = await Promise.all(shares.slice(1).map((share) => pruneModel(graph, firstChannels(graph, uniform(share)))));
  const calibration = (await target.time([model, ...pruned], batch, { rounds: 5 })).map(fastest);
  for (const m of pruned) m.dispose();
  const sums = shares.map((share) => layerSum(table, uniform(share)));
  const [meanSum, meanMs] = [sums.reduce((a, b) => a + b) / sums.length, calibration.reduce((a, b) => a + b) / calibration.length];
  const covariance = sums.reduce((sum, x, i) => sum + (x - meanSum) * (calibration[i] - meanMs), 0);
  const variance = sums.reduce((sum, x) => sum + (x - meanSum) ** 2, 0);
  table.scale = variance > 0 && covariance > 0 ? covariance / variance : 1;
  table.offsetMs = meanMs - table.scale * meanSum;
  return table;
}

/** A plan keeping each group's first `kept` channels (which ones does not change the time). */
function firstChannels(graph: DependencyGraph, kept: KeptCounts): KeepPlan {
  return new Map(graph.prunableGroups().map((g) => [g.id, Array.from({ length: kept[g.id] ?? g.size }, (_, c) => c)]));
}

function layerTimingPlan(graph: DependencyGraph, node: LayerNode, sizes: Record<number, number>, resizable: boolean): Omit<LayerTiming, 'ms'> {
  const input = widthOf(graph, node.inputRefs[0]);
  const output = widthOf(graph, node.outputRefs);
  const tied = !resizable || !varies(output);
  return {
    layer: node.name,
    className: node.className,
    input,
    output,
    tied,
    inputWidths: gridOf(input, sizes),
    ...(!tied && { outputWidths: gridOf(output, sizes) }),
  };
}

/** The layer's input shapes (without batch) when its first input is `width` wide; the other inputs scaled alike. */
function inputShapes(node: LayerNode, graph: DependencyGraph, sizes: Record<number, number>, width: number): number[][] {
  const input = node.layer.input as tf.SymbolicTensor | tf.SymbolicTensor[];
  const shapes = (Array.isArray(input) ? input : [input]).map((t) => t.shape);
  const first = widthAt(widthOf(graph, node.inputRefs[0]), {}, sizes);
  return shapes.map((shape, i) => {
    const full = widthAt(widthOf(graph, node.inputRefs[i]), {}, sizes);
    return [...shape.slice(1, -1).map((d) => d ?? 1), Math.max(1, Math.round((full * width) / first))];
  });
}

/** Linear interpolation on a sorted grid (clamped): the index below and the weight of the one above. */
function bracket(grid: number[], x: number): [number, number] {
  if (grid.length === 1 || x <= grid[0]) return [0, 0];
  for (let i = 0; i < grid.length - 1; i++) if (x <= grid[i + 1]) return [i, (x - grid[i]) / (grid[i + 1] - grid[i])];
  return [grid.length - 2, 1];
}

/** One layer's interpolated milliseconds at the kept counts. */
export function layerMs(timing: LayerTiming, kept: KeptCounts, sizes: Record<number, number>): number {
  const [i, a] = bracket(timing.inputWidths, widthAt(timing.input, kept, sizes));
  const at = (r: number, c: number) => timing.ms[r * (timing.outputWidths?.length ?? 1) + c];
  const row = (r: number) => {
    if (timing.tied || timing.outputWidths === undefined) return timing.ms[r];
    const [j, b] = bracket(timing.outputWidths, widthAt(timing.output, kept, sizes));
    return b === 0 ? at(r, j) : (1 - b) * at(r, j) + b * at(r, j + 1);
  };
  return a === 0 ? row(i) : (1 - a) * row(i) + a * row(i + 1);
}

const layerSum = (table: LatencyTable, kept: KeptCounts) => table.layers.reduce((sum, l) => sum + layerMs(l, kept, table.groups), 0);

/** The predicted time of the network with each group at its kept count (groups left out keep every channel). */
export function predictLatency(table: LatencyTable, kept: KeptCounts): number {
  return table.offsetMs + table.scale * layerSum(table, kept);
}

/** Milliseconds the layers that follow each group take at full width: how much of the time a group touches. */
export function latencyShares(table: LatencyTable, groupIds: number[]): Map<number, number> {
  const touched = groupIds.map((id) =>
    table.layers.filter((l) => id in l.input.perGroup || id in l.output.perGroup).reduce((sum, l) => sum + layerMs(l, {}, table.groups), 0),
  );
  const total = touched.reduce((a, b) => a + b, 0);
  return new Map(groupIds.map((id, i) => [id, total > 0 ? touched[i] / total : 1 / groupIds.length]));
}

/** Predicted milliseconds saved per channel removed from each group, at half its channels (for cost-aware ranking). */
export function channelCosts(table: LatencyTable): Record<number, number> {
  const full = predictLatency(table, {});
  return Object.fromEntries(
    Object.entries(table.groups).map(([id, size]) => {
      const half = Math.max(1, Math.floor(size / 2));
      return [id, Math.max(1e-6, (full - predictLatency(table, { [Number(id)]: half })) / (size - half || 1))];
    }),
  );
}

export interface LatencyCheck {
  prunings: { kept: KeptCounts; predictedMs: number; measuredMs: number; error: number }[];
  /** Mean and largest |predicted - measured| / measured. */
  meanError: number;
  maxError: number;
}

/**
 * The table against the target: `prunings` random prunings (every group
 * keeping a seeded share in [0.2, 1]), each built and timed whole, alternated
 * with the others; the relative error of each prediction.
 */
export async function checkLatencyTable(
  model: tf.LayersModel,
  table: LatencyTable,
  target: LatencyTarget,
  { prunings = 4, seed = 1, rounds = 5 }: { prunings?: number; seed?: number; rounds?: number } = {},
): Promise<LatencyCheck> {
  const graph = buildGraph(model);
  let state = seed;
  const random = () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
  const counts: KeptCounts[] = Array.from({ length: prunings }, () =>
    Object.fromEntries(graph.prunableGroups().map((g) => [g.id, Math.max(1, Math.round(g.size * (0.2 + 0.8 * random())))])),
  );
  const models = await Promise.all(counts.map((kept) => pruneModel(graph, firstChannels(graph, kept))));
  const timed = await target.time(models, table.batch, { rounds });
  for (const m of models) m.dispose();
  const results = counts.map((kept, i) => {
    const [predictedMs, measuredMs] = [predictLatency(table, kept), fastest(timed[i])];
    return { kept, predictedMs, measuredMs, error: Math.abs(predictedMs - measuredMs) / measuredMs };
  });
  return { prunings: results, meanError: results.reduce((s, r) => s + r.error, 0) / results.length, maxError: Math.max(...results.map((r) => r.error)) };
}
