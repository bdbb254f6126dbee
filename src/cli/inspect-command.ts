/** `autoprune inspect <model>`: layers with their cost and channel groups, and the groups themselves. */
import type * as tf from '@tensorflow/tfjs';
import { buildGraph, type DependencyGraph } from '../prune/graph.js';
import { modelCost } from '../prune/metrics.js';
import { formatTable, plural } from '../report/text.js';

export interface InspectReport {
  layers: {
    name: string;
    className: string;
    outputShape: (number | null)[];
    params: number;
    macs: number;
    outGroups: number[];
    inGroups: number[];
    prunable: string;
  }[];
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
    const prunable =
      outGroups.length === 0
        ? '-'
        : outGroups
            .map((g) => graph.group(g))
            .map((g) => (g.prunable ? 'yes' : `no: ${g.reason}`))
            .join('; ');
    return {
      name,
      className: node.className,
      outputShape: node.layer.outputShape as (number | null)[],
      params: c?.params ?? 0,
      macs: c?.macs ?? 0,
      outGroups,
      inGroups,
      prunable,
    };
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
    // "no" without its reason, which the group's block gives.
    report.layers.map((l) => [
      l.name,
      l.className,
      shape(l.outputShape),
      l.params,
      l.macs,
      ids(l.outGroups),
      ids(l.inGroups),
      l.prunable.startsWith('no') ? 'no' : l.prunable,
    ]),
  );
  // One block per group, its lists wrapped: a residual group couples dozens of layers.
  const groupBlocks = report.groups.map((g) =>
    [
      `group ${g.id}: ${plural(g.size, 'channel')}, ${g.prunable ? 'prunable' : `not prunable: ${g.reason}`}`,
      ...wrapList('  producers: ', g.producers),
      ...wrapList(
        '  coupled:   ',
        g.members.filter((m) => m.role !== 'out').map((m) => `${m.layer} (${m.role})`),
      ),
    ].join('\n'),
  );
  const groupTable = groupBlocks.join('\n');
  const t = report.totals;
  return `${layerTable}\n\ntotal: ${t.params.toLocaleString('en-US')} parameters, ${t.macs.toLocaleString('en-US')} MACs per image\n\n${groupTable}\n\n${plural(t.prunableGroups, 'prunable group')}, ${plural(t.prunableChannels, 'prunable channel')}`;
}

/** `label` then the items, comma-separated, in lines of at most `width` characters, continued under the first item. */
function wrapList(label: string, items: string[], width = 100): string[] {
  if (items.length === 0) return [`${label}-`];
  const lines: string[] = [];
  let line = label;
  for (const [i, item] of items.entries()) {
    const piece = `${item}${i < items.length - 1 ? ',' : ''}`;
    if (line.length > label.length && line.length + 1 + piece.length > width) {
      lines.push(line);
      line = ' '.repeat(label.length) + piece;
    } else line += line.length > label.length ? ` ${piece}` : piece;
  }
  return [...lines, line];
}
