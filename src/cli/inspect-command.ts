/** `autoprune inspect <model>`: layers with their cost and channel groups, and the groups themselves. */
import type * as tf from '@tensorflow/tfjs';
import { buildGraph, type DependencyGraph } from '../prune/graph.js';
import { modelCost } from '../prune/metrics.js';
import { formatTable, plural } from './table.js';

export interface InspectReport {
  layers: { name: string; className: string; outputShape: (number | null)[]; params: number; macs: number; outGroups: number[]; inGroups: number[]; prunable: string }[];
  groups: { id: number; size: number; producers: string[]; members: { layer: string; role: string }[]; prunable: boolean; reason?: string }[];
  totals: { params: number; macs: number; prunableGroups: number; prunableChannels: number };
}

function groupsAt(graph: DependencyGraph, refs: { space: number; index: number }[]): number[] {
  return [...new Set(refs.map((r) => graph.groupOf(r)?.id).filter((id): id is number => id !== undefined))];
}

export function inspectModel(model: tf.LayersModel): InspectReport {
  const graph = buildGraph(model);
  const cost = new Map(modelCost(model).layers.map((l) => [l.name, l]));
  const layers = graph.order.map((name) => {
    const node = graph.node(name);
    const c = cost.get(name);
    const outGroups = node.kind === 'producer' ? groupsAt(graph, node.outputRefs) : [];
    const inGroups = node.kind === 'input' ? [] : groupsAt(graph, node.inputRefs.flat());
    const prunable = outGroups.length === 0 ? '-' : outGroups.map((g) => graph.group(g)).map((g) => (g.prunable ? 'yes' : `no: ${g.reason}`)).join('; ');
    return { name, className: node.className, outputShape: node.layer.outputShape as (number | null)[], params: c?.params ?? 0, macs: c?.macs ?? 0, outGroups, inGroups, prunable };
  });
  const groups = graph.groups.map(({ id, size, producers, members, prunable, reason }) => ({ id, size, producers, members, prunable, reason }));
  const prunableGroups = groups.filter((g) => g.prunable);
  return {
    layers,
    groups,
    totals: {
      params: layers.reduce((s, l) => s + l.params, 0),
      macs: layers.reduce((s, l) => s + l.macs, 0),
      prunableGroups: prunableGroups.length,
      prunableChannels: prunableGroups.reduce((s, g) => s + g.size, 0),
    },
  };
}

export function formatInspect(report: InspectReport): string {
  const shape = (s: (number | null)[]) => `[${s.map((d) => d ?? 'N').join(',')}]`;
  const ids = (xs: number[]) => (xs.length === 0 ? '-' : xs.join(','));
  const layerTable = formatTable(
    ['layer', 'class', 'output', 'params', 'MACs', 'out group', 'in group', 'prunable'],
    report.layers.map((l) => [l.name, l.className, shape(l.outputShape), l.params, l.macs, ids(l.outGroups), ids(l.inGroups), l.prunable]),
  );
  const groupTable = formatTable(
    ['group', 'channels', 'producers', 'coupled layers', 'prunable'],
    report.groups.map((g) => [g.id, g.size, g.producers.join(', '), g.members.filter((m) => m.role !== 'out').map((m) => `${m.layer} (${m.role})`).join(', ') || '-', g.prunable ? 'yes' : `no: ${g.reason}`]),
  );
  const t = report.totals;
  return `${layerTable}\n\ntotal: ${t.params.toLocaleString('en-US')} parameters, ${t.macs.toLocaleString('en-US')} MACs per image\n\n${groupTable}\n\n${plural(t.prunableGroups, 'prunable group')}, ${plural(t.prunableChannels, 'prunable channel')}`;
}
