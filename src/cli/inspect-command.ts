/** `autoprune inspect <model>`: layers with their cost and channel groups, and the groups themselves. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import type { Command } from 'commander';
import { selectBackend } from '../backend/backend.js';
import { formatShape, hasUnknownInputSize, inputShapeOf, withInputShape } from '../models/input-shape.js';
import { resolveModel } from '../models/resolve.js';
import { ZOO_NAMES_TEXT } from '../models/zoo.js';
import { buildGraph, type DependencyGraph } from '../prune/graph.js';
import { modelCost } from '../prune/metrics.js';
import { formatTable, plural } from '../text.js';
import { imageSize, integerIn, parseShape } from './options.js';
import { globalOptions } from './session.js';
import { ModelError, UsageError } from '../errors.js';

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

/** inspect: a model's layers, costs and channel groups, without pruning anything. */
export function addInspectCommand(program: Command): void {
  program
    .command('inspect')
    .description('show the layers, their cost, and the channel groups pruning would act on')
    .argument('<model>', `a zoo model (${ZOO_NAMES_TEXT}), a run id under --runs-dir (its model), or a path to a TF.js layers model.json`)
    .option('--input-shape <h,w,c>', 'input shape for zoo models', '28,28,1')
    .option('--classes <n>', 'classes for zoo models', integerIn(2), 10)
    .option('--input-size <HxW>', 'image size for a model whose input size is unknown ([?, ?, ?, c]): costs per image of that size', imageSize)
    .option('--json', 'print the report as JSON')
    .action(async (spec: string, opts, command: Command) => {
      const global = globalOptions(command);
      await selectBackend(global.backend, { threads: global.threads });
      const inputShape = parseShape(opts.inputShape);
      const runModel = join(global.runsDir, spec, 'model', 'model.json');
      const path = existsSync(runModel) ? runModel : spec;
      let model = await resolveModel(path, { inputShape, numClasses: opts.classes, seed: 0 });
      const size = opts.inputSize as [number, number] | undefined;
      if (hasUnknownInputSize(model)) {
        const shape = inputShapeOf(model);
        if (size === undefined) throw new ModelError(`${path}: the model's input is ${formatShape(shape)}: give --input-size HxW for costs per image`);
        model = await withInputShape(model, [size[0], size[1], shape[2] ?? 3], path);
      } else if (size !== undefined && formatShape(inputShapeOf(model).slice(0, 2)) !== formatShape(size)) {
        throw new UsageError(`--input-size ${formatShape(size)}: the model's input size is fixed at ${formatShape(inputShapeOf(model))}`);
      }
      const report = inspectModel(model);
      process.stdout.write(`${opts.json ? JSON.stringify(report, null, 2) : formatInspect(report)}\n`);
    });
}
