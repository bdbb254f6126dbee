/**
 * report.html of a `compare` run: one self-contained file (inline SVG and CSS,
 * no scripts, nothing fetched at view time). The charts are Vega-Lite specs
 * rendered to SVG here, at build time.
 */
import { existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { type CompareResults, methodLabel, type ResultRow, statusText, verdict } from '../run/compare-results.js';
import { certifiedCheck, finalCertified } from '../certify/certification.js';
import { speedupAt } from '../latency/side-by-side.js';
import { writeFileAtomic } from '../models/io.js';
import { baselineLabel } from '../run/baselines.js';
import { modelShortName } from '../run/records.js';
import { formatBytes, percent } from '../text.js';
import { ReportPathError } from '../errors.js';

/** Fails before any work when `path` cannot be written: a missing folder, a folder in the way, or no right to write there. */
export function checkWritable(path: string): void {
  const target = resolve(path);
  const folder = dirname(target);
  if (!existsSync(folder)) throw new ReportPathError(`report path ${path}: folder ${folder} does not exist`);
  if (existsSync(target) && statSync(target).isDirectory()) throw new ReportPathError(`report path ${path}: is a folder, not a file`);
  // Permissions alone do not say (root, read-only mounts): try it.
  const probe = join(folder, `.${basename(target)}.${process.pid}.check`);
  try {
    writeFileSync(probe, '');
    rmSync(probe);
  } catch (err) {
    throw new ReportPathError(`report path ${path}: cannot write in ${folder} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

const WIDTH = 420;
const HEIGHT = 280;

async function toSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const done = (rows: ResultRow[]) => rows.filter((r) => r.status === 'done');

/** A method as the report names it: the agent by its method, a criterion with the ranking it took. */
export function reportLabel(row: Pick<ResultRow, 'method' | 'ranking'>): string {
  return row.method === 'rl' ? 'agent (try-and-learn)' : methodLabel(row);
}

/** Vega's default palette, after black for the unpruned model. */
const PALETTE = ['#4c78a8', '#f58518', '#e45756', '#72b7b2', '#54a24b', '#eeca3b', '#b279a2', '#ff9da6', '#9d755d', '#bab0ac'];

/** Each method's final model as a point, its search (probes, or the agent group by group) as a line, the tolerance floor as a rule. */
function tradeOffSpec(results: CompareResults): TopLevelSpec {
  const floor = 100 * results.unpruned.validationAccuracy - results.tolerance;
  // Probes that collapsed would squash the region that matters into a line; they are left out.
  const lowest = floor - 3 * results.tolerance;
  const finals = [
    { method: 'unpruned', flops: 1, accuracy: 100 * results.unpruned.validationAccuracy },
    ...done(results.rows).map((r) => ({ method: reportLabel(r), flops: r.theoreticalSpeedup, accuracy: 100 * r.validationAccuracy! })),
  ];
  const searches = done(results.rows)
    .flatMap((r) => (r.tradeOff ?? []).map((p) => ({ method: reportLabel(r), flops: p.flopsReduction, accuracy: 100 * p.validationAccuracy, label: p.label })))
    .filter((p) => p.accuracy >= lowest);
  const x = { field: 'flops', type: 'quantitative', title: 'FLOPs reduction (x, log scale)', scale: { type: 'log' } } as const;
  const y = { field: 'accuracy', type: 'quantitative', title: 'validation accuracy (%)', scale: { zero: false } } as const;
  const methods = finals.map((f) => f.method);
  const color = {
    field: 'method',
    type: 'nominal',
    title: 'method',
    scale: { domain: methods, range: ['black', ...PALETTE] },
    legend: { labelLimit: 280 },
  } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: WIDTH,
    height: HEIGHT,
    layer: [
      {
        data: { values: searches },
        mark: { type: 'line', point: { size: 20 }, opacity: 0.45, strokeDash: [4, 3] },
        encoding: { x, y, color, order: { field: 'flops' } },
      },
      // The unpruned model is a black diamond, in the same legend as the methods.
      {
        data: { values: finals },
        mark: { type: 'point', filled: true, size: 110 },
        encoding: {
          x,
          y,
          color,
          shape: {
            field: 'method',
            type: 'nominal',
            title: 'method',
            scale: { domain: methods, range: methods.map((m) => (m === 'unpruned' ? 'diamond' : 'circle')) },
          },
        },
      },
      {
        data: { values: [{ floor }] },
        mark: { type: 'rule', color: 'firebrick', strokeWidth: 1.5 },
        encoding: { y: { field: 'floor', type: 'quantitative' } },
      },
      {
        data: { values: [{ floor, text: `tolerance floor: ${floor.toFixed(2)}% (unpruned - ${results.tolerance})` }] },
        mark: { type: 'text', align: 'left', dx: 4, dy: -6, color: 'firebrick', x: 0 },
        encoding: { y: { field: 'floor', type: 'quantitative' }, text: { field: 'text' } },
      },
    ],
  };
}

/** Share of filters (units) kept per layer, one bar per method. */
function layersSpec(results: CompareResults): TopLevelSpec {
  const values = done(results.rows).flatMap((r) =>
    (r.layers ?? []).map((l) => ({ method: reportLabel(r), layer: l.layer, kept: l.kept, total: l.total, share: l.kept / l.total })),
  );
  const layerOrder = [...new Set(values.map((v) => v.layer))];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: Math.max(WIDTH, layerOrder.length * 16 * Math.max(1, done(results.rows).length) * 0.6),
    height: HEIGHT,
    data: { values },
    mark: 'bar',
    encoding: {
      x: { field: 'layer', type: 'nominal', sort: layerOrder, title: 'layer' },
      xOffset: { field: 'method', type: 'nominal' },
      y: { field: 'share', type: 'quantitative', title: 'filters kept (share of original)', scale: { domain: [0, 1] } },
      color: { field: 'method', type: 'nominal', title: 'method', legend: { labelLimit: 280 } },
    },
  };
}

interface Axis {
  title: string;
  scale?: { domain?: number[]; type?: 'symlog' };
}

/** One line per prunable group, labelled "id: producers (filters)": the agent's learning curves and the sensitivity curves. */
function groupLinesSpec(points: { group: { groupId: number; producers: string[]; size: number }; x: number; y: number }[], x: Axis, y: Axis): TopLevelSpec {
  const values = points.map((p) => ({ group: `${p.group.groupId}: ${p.group.producers.join('+')} (${p.group.size})`, x: p.x, y: p.y }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: WIDTH,
    height: HEIGHT * 0.8,
    data: { values },
    mark: { type: 'line', strokeWidth: 1.5 },
    encoding: {
      x: { field: 'x', type: 'quantitative', ...x },
      y: { field: 'y', type: 'quantitative', ...y },
      color: { field: 'group', type: 'nominal', title: 'group (filters)', legend: { labelLimit: 280 } },
    },
  };
}

/** The agent's mean sampled reward and kept share per REINFORCE iteration, one line per group. */
function agentSpec(row: ResultRow, field: 'meanReward' | 'keptRatio', title: string): TopLevelSpec {
  const points = (row.agent ?? []).flatMap((g) => g.iterations.map((it) => ({ group: g, x: it.iteration, y: it[field] })));
  // Rewards of near-empty masks fall far below zero; a symlog axis keeps them without flattening the rest.
  return groupLinesSpec(points, { title: 'iteration' }, { title, scale: field === 'keptRatio' ? { domain: [0, 1] } : { type: 'symlog' } });
}

/** Li et al.'s sensitivity curves: validation drop of each group pruned alone, before fine-tuning, against the share removed. */
function sensitivitySpec(row: ResultRow): TopLevelSpec {
  const points = (row.sensitivity?.curves ?? []).flatMap((c) => c.points.map((p) => ({ group: c, x: p.ratio, y: p.drop })));
  // The drops that matter are near the tolerance; a collapse towards chance would flatten them on a linear axis.
  return groupLinesSpec(
    points,
    { title: 'share of the group removed', scale: { domain: [0, 1] } },
    { title: 'validation drop before fine-tuning (points)', scale: { type: 'symlog' } },
  );
}

const escapeHtml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const pct = (x?: number) => percent(x, '');
const times = (x?: number) => (x === undefined ? '' : `${x.toFixed(2)}x`);

/**
 * The results table: the unpruned model, then one row per method; in each
 * column of numbers the best value is bold. Every row is its method's
 * certified model: its drop and upper bound on the certification split
 * (marked when the method's own final model did not certify), and its test
 * drop with the interval.
 */
function tableHtml(results: CompareResults): string {
  const head = [
    'method',
    'FLOPs reduction',
    'compression',
    'measured speedup (batch 1, side by side)',
    'validation (selection split)',
    'certified drop (upper bound)',
    'test',
    'test drop (interval)',
    'wall time',
  ];
  const columns: ((r: ResultRow) => number | undefined)[] = [
    (r) => r.theoreticalSpeedup,
    (r) => r.compressionRatio,
    (r) => speedupAt(r.latency, 1),
    (r) => r.validationAccuracy,
  ];
  const best = columns.map((value) => Math.max(...done(results.rows).map((r) => value(r) ?? -Infinity)));
  const formats = [times, times, (x?: number) => (x === undefined ? '-' : `${x.toFixed(2)}x`), pct];
  const bestTest = Math.max(...done(results.rows).map((r) => r.testAccuracy ?? -Infinity));
  const cell = (text: string, bold = false) => `<td${bold ? ' class="best"' : ''}>${escapeHtml(text)}</td>`;
  const base = ['unpruned', '1.00x', '1.00x', '1.00x', pct(results.unpruned.validationAccuracy), '', pct(results.unpruned.testAccuracy), '', ''];
  const rows = results.rows.map((r) =>
    r.status !== 'done'
      ? `<tr class="${r.status}"><td>${escapeHtml(reportLabel(r))}</td><td colspan="7">${statusText(r)}: ${escapeHtml(r.error ?? '')}</td><td>${r.seconds.toFixed(0)} s</td></tr>`
      : `<tr>${cell(reportLabel(r))}${columns.map((value, i) => cell(formats[i](value(r)), value(r) === best[i])).join('')}${cell(certifiedText(r))}${cell(pct(r.testAccuracy), r.testAccuracy === bestTest)}${cell(testDropText(r, results))}${cell(`${r.seconds.toFixed(0)} s${r.peakMemory === undefined ? '' : `, ${formatBytes(r.peakMemory)}`}`)}</tr>`,
  );
  const notes = results.rows
    .filter((r) => r.uncertified !== undefined)
    .map((r) => `<p class="note">* ${escapeHtml(reportLabel(r))}: ${escapeHtml(r.uncertified!.reason)}</p>`);
  return `<div class="scroll"><table id="results"><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody><tr>${base.map((c) => `<td>${c}</td>`).join('')}</tr>${rows.join('')}</tbody></table></div>${notes.join('')}`;
}

/** "0.41 (0.83)" on the certification split; "*" marks a fallback from an uncertified final model. */
function certifiedText(r: ResultRow): string {
  if (r.certification === undefined) return '-';
  const check = certifiedCheck(r.certification);
  return `${check.drop.toFixed(2)} (${check.upperBound.toFixed(2)})${finalCertified(r.certification) ? '' : ' *'}`;
}

function testDropText(r: ResultRow, results: CompareResults): string {
  const drop = 100 * (results.unpruned.testAccuracy - (r.testAccuracy ?? Number.NaN));
  return r.testDropInterval === undefined ? drop.toFixed(2) : `${drop.toFixed(2)} (${r.testDropInterval[0].toFixed(2)} to ${r.testDropInterval[1].toFixed(2)})`;
}

/** Per group: what the agent's mask kept, the count search after it, and whether the search converged. */
function agentTableHtml(row: ResultRow): string {
  const head = [
    'group',
    'filters',
    "agent's mask kept",
    'count search (fine-tuned probes; over budget struck)',
    'kept',
    'iterations',
    'converged',
    'final entropy',
  ];
  const rows = (row.agent ?? []).map((g) => {
    const probes = g.probes?.map((p) => (p.withinBudget ? `${p.kept}` : `<s>${p.kept}</s>`)).join(' &rarr; ') ?? '-';
    const converged = g.converged === undefined ? '-' : g.converged ? 'yes' : 'no';
    const cells = [
      `${g.groupId}: ${escapeHtml(g.producers.join(', '))}`,
      `${g.size}`,
      `${g.agentKept ?? '-'}`,
      probes,
      `${g.kept}`,
      `${g.iterations.length}`,
      converged,
      g.finalEntropy?.toFixed(3) ?? '-',
    ];
    return `<tr>${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`;
  });
  return `<div class="scroll"><table id="agent-groups"><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table></div>`;
}

export async function renderReport(results: CompareResults): Promise<string> {
  const agentRow = done(results.rows).find((r) => r.agent !== undefined && r.agent.length > 0);
  const sensitivityRow = done(results.rows).find((r) => r.sensitivity !== undefined);
  const figure = (id: string, caption: string, svg: string) => `<figure id="${id}">${svg}<figcaption>${caption}</figcaption></figure>`;
  const figures = [
    figure(
      'trade-off',
      "Validation accuracy against FLOPs reduction. Filled points: each method's final model. Dashed lines: its search (a criterion's tolerance probes at the ranking it took, sensitivity's threshold probes, the agent after each group); probes more than 3 tolerances below the unpruned accuracy are left out. Red: the tolerance floor.",
      await toSvg(tradeOffSpec(results)),
    ),
    figure('layers', 'Share of filters kept in each layer, per method.', await toSvg(layersSpec(results))),
    ...(agentRow === undefined
      ? []
      : [
          figure(
            'agent-reward',
            'The agent: mean reward of the sampled masks per REINFORCE iteration, one line per group (symmetric log axis: linear between -1 and 1).',
            await toSvg(agentSpec(agentRow, 'meanReward', 'mean reward')),
          ),
          figure(
            'agent-kept',
            'The agent: mean share of filters kept by the sampled masks per iteration.',
            await toSvg(agentSpec(agentRow, 'keptRatio', 'filters kept (share)')),
          ),
        ]),
    ...(sensitivityRow === undefined
      ? []
      : [
          figure(
            'sensitivity',
            'Sensitivity (Li et al. 2017): validation drop of each group pruned alone (L1), before fine-tuning, one line per group (symmetric log axis). The sensitivity method gives each group the largest share whose drop is within a threshold, and bisects the threshold.',
            await toSvg(sensitivitySpec(sensitivityRow)),
          ),
        ]),
  ];
  const summary = verdict(results.rows);
  const title = `autoprune compare: ${modelShortName(results.model, results.dataset)} on ${results.dataset}, tolerance ${results.tolerance} point${results.tolerance === 1 ? '' : 's'}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; padding: 0 1em; max-width: 1100px; color: #222; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 1em 0; }
td.best { font-weight: bold; }
figure svg { max-width: 100%; height: auto; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 6px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.failed td { color: #a00; }
tr.inapplicable td { color: #666; }
figure { display: inline-block; margin: 1em 1em 1em 0; vertical-align: top; max-width: 100%; }
figcaption { max-width: ${WIDTH + 100}px; color: #555; }
.note { max-width: ${WIDTH + 100}px; color: #555; }
</style></head><body>
<h1>${escapeHtml(title)}</h1>
<p>Baseline: ${escapeHtml(baselineLabel(results.model, results.baseline))}; seed ${results.seed}; backend ${escapeHtml(results.backend)}.${results.classNames === undefined ? '' : ` Classes: ${escapeHtml(results.classNames.join(', '))}.`} Every method starts from this baseline with the same fine-tuning; each choice it makes (epochs, probes, bisections, thresholds) is judged on the selection split by an upper confidence bound on its drop${holdoutText(results)}, and its final model is certified once on images no choice has seen: the drop and its exact ${confidenceText(results)} upper bound must be within ${results.tolerance} point(s), or the row falls back to the last certified model on the method's path (marked *). Test accuracy is measured once, on the certified models, with the drop's two-sided interval. Each criterion is searched with local and with global ranking and shows the one that removes more FLOPs. Bold: the best value in each column.</p>
${tableHtml(results)}
${summary === undefined ? '' : `<ul id="verdict">${summary.map((line) => `<li>${escapeHtml(line)}</li>`).join('')}</ul>`}
${agentRow === undefined ? '' : `<h2>The agent, group by group</h2>\n${agentTableHtml(agentRow)}`}
${figures.join('\n')}
</body></html>
`;
}

const confidenceText = (results: CompareResults) => `${+(100 * (results.holdout?.confidence ?? 0.95)).toFixed(1)}%`;
const holdoutText = (results: CompareResults) =>
  results.holdout === undefined
    ? ''
    : ` (${results.holdout.selection.toLocaleString('en-US')} selection and ${results.holdout.certification.toLocaleString('en-US')} certification images)`;

/** Renders and writes the report; returns its path. */
export async function writeReport(results: CompareResults, path: string): Promise<string> {
  checkWritable(path);
  writeFileAtomic(path, await renderReport(results));
  return path;
}
