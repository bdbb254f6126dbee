/**
 * The activations a group's candidates start from: the outputs of the
 * unaffected layers that feed the group's (the frontier), on the reward
 * subset, per evaluation batch. Kept where they fit (CacheLimits): as backend
 * tensors, else as host arrays copied into the backend per batch, else not at
 * all (each candidate then runs the whole network from the images). A
 * MobileNetV2 at 224 px caches 1.6 MB per image before its first block.
 */
import * as tf from '@tensorflow/tfjs';
import { execute } from '../src/prune/executor.js';
import type { ChannelGroup, DependencyGraph } from '../src/prune/graph.js';

export interface CacheLimits {
  backend: number;
  host: number;
}

/** 1 GiB in the backend, 6 GiB on the host. */
export const DEFAULT_CACHE_LIMITS: CacheLimits = { backend: 2 ** 30, host: 6 * 2 ** 30 };

/** Where a group's activations are kept: as backend tensors, as host arrays copied in per batch, or not at all. */
export type CachePlace = 'backend' | 'host' | 'none';

/** A group's members, the layers its candidates change (the members and everything downstream of them), and the unaffected layers feeding those: the frontier, whose outputs are cached. */
export function groupFrontier(graph: DependencyGraph, group: ChannelGroup): { members: string[]; affected: Set<string>; frontier: string[] } {
  const members = [...new Set(group.members.map((m) => m.layer))];
  const affected = new Set(graph.downstreamOf(members));
  const frontier = [...new Set([...affected].flatMap((name) => graph.node(name).inputs.filter((i) => !affected.has(i))))];
  return { members, affected, frontier };
}

type HostBatch = Map<string, { values: Float32Array; shape: number[] }>;

export class CachedActivations {
  private constructor(
    readonly place: CachePlace,
    /** Bytes the cache takes (0 when none is kept). */
    readonly bytes: number,
    private readonly backend: Map<string, tf.Tensor>[],
    private readonly host: HostBatch[],
  ) {}

  /** Bytes the frontier's activations take for `images` images (float32). */
  static bytesOf(graph: DependencyGraph, frontier: string[], images: number): number {
    const perImage = frontier.reduce(
      (sum, name) => sum + (graph.node(name).layer.outputShape as (number | null)[]).slice(1).reduce<number>((n, d) => n * (d ?? 1), 1),
      0,
    );
    return 4 * perImage * images;
  }

  /** Runs the network up to `frontier` over `images` (the reward subset) in batches of `batchSize` and keeps the result where `limits` allow. */
  static capture(graph: DependencyGraph, frontier: string[], images: tf.Tensor, batchSize: number, limits: CacheLimits): CachedActivations {
    const count = images.shape[0];
    const bytes = CachedActivations.bytesOf(graph, frontier, count);
    const place: CachePlace = bytes <= limits.backend ? 'backend' : bytes <= limits.host ? 'host' : 'none';
    const [backend, host]: [Map<string, tf.Tensor>[], HostBatch[]] = [[], []];
    if (place === 'none') return new CachedActivations(place, 0, backend, host);
    for (let start = 0; start < count; start += batchSize) {
      const size = Math.min(batchSize, count - start);
      const captured = tf.tidy(() => Object.fromEntries(execute(graph, images.slice(start, size), { capture: frontier, release: true }).captured));
      if (place === 'backend') backend.push(new Map(Object.entries(captured)));
      else {
        host.push(new Map(Object.entries(captured).map(([name, t]) => [name, { values: t.dataSync() as Float32Array, shape: t.shape }])));
        tf.dispose(Object.values(captured));
      }
    }
    return new CachedActivations(place, bytes, backend, host);
  }

  /** The frontier's activations of batch `index`, as `execute`'s `given` (host arrays become tensors the caller's tidy disposes); undefined when none is kept. */
  batch(index: number): Map<string, tf.Tensor> | undefined {
    if (this.place === 'backend') return this.backend[index];
    if (this.place === 'host') return new Map([...this.host[index]].map(([name, { values, shape }]) => [name, tf.tensor(values, shape)]));
    return undefined;
  }

  dispose(): void {
    for (const batch of this.backend) tf.dispose([...batch.values()]);
    this.backend.length = 0;
    this.host.length = 0;
  }
}
