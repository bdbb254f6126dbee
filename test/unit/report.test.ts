import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { parsePruneConfig } from '../../src/run/config.js';
import { betterRanking, type CompareResults, mergeResults, type RankingVariant, type ResultRow, searchEdge, verdict } from '../../src/run/compare-results.js';
import { checkWritable, renderReport, writeReport } from '../../src/compare/report-html.js';
import { baselineLabel } from '../../src/run/baselines.js';
import { chromiumAvailable, evaluateInChromium } from '../chromium.js';
import { tempDir } from '../helpers.js';
import { ReportPathError } from '../../src/errors.js';

const iterations = (n: number) => Array.from({ length: n }, (_, i) => ({ iteration: i + 1, meanReward: -1 + i / n, keptRatio: 0.9 - (0.5 * i) / n }));
const layers = (kept: number[]) => ['conv1', 'conv2', 'fc1'].map((layer, i) => ({ layer, kept: kept[i], total: [20, 50, 500][i] }));

/** A compare result with an agent, a heuristic with its probes, and a failed method. */
const RESULTS: CompareResults = {
  baseline: 'src/models/pretrained/lenet5-mnist/model.json',
  model: 'lenet5',
  dataset: 'mnist',
  tolerance: 1,
  seed: 0,
  backend: 'wasm',
  unpruned: { validationAccuracy: 0.99, testAccuracy: 0.993, macs: 2_293_000, params: 431_080 },
  rows: [
    {
      method: 'rl',
      status: 'done',
      theoreticalSpeedup: 4.9,
      compressionRatio: 8.3,
      measuredSpeedupBatch256: 3.6,
      latency: { target: 'this process', batches: [{ batch: 1, ms: 0.1, speedup: 3.6, spread: [3.4, 3.7] }] },
      validationAccuracy: 0.9886,
      testAccuracy: 0.991,
      seconds: 500,
      layers: layers([11, 15, 188]),
      tradeOff: [
        { flopsReduction: 1.8, validationAccuracy: 0.989, label: 'after group 0' },
        { flopsReduction: 4.8, validationAccuracy: 0.9884, label: 'after group 1' },
        { flopsReduction: 4.9, validationAccuracy: 0.9886, label: 'after group 2' },
      ],
      agent: [
        {
          groupId: 0,
          producers: ['conv1'],
          size: 20,
          kept: 11,
          agentKept: 11,
          probes: [{ kept: 11, withinBudget: true }],
          converged: true,
          finalEntropy: 0.05,
          iterations: iterations(150),
        },
        {
          groupId: 1,
          producers: ['conv2'],
          size: 50,
          kept: 15,
          agentKept: 20,
          probes: [
            { kept: 20, withinBudget: true },
            { kept: 10, withinBudget: false },
            { kept: 15, withinBudget: true },
          ],
          converged: true,
          finalEntropy: 0.08,
          iterations: iterations(158),
        },
        {
          groupId: 2,
          producers: ['fc1'],
          size: 500,
          kept: 188,
          agentKept: 150,
          probes: [
            { kept: 150, withinBudget: false },
            { kept: 188, withinBudget: true },
          ],
          converged: false,
          finalEntropy: 0.41,
          iterations: iterations(250),
        },
      ],
    },
    {
      method: 'l1',
      status: 'done',
      theoreticalSpeedup: 4.2,
      compressionRatio: 5.1,
      measuredSpeedupBatch256: 3.1,
      latency: { target: 'this process', batches: [{ batch: 1, ms: 0.12, speedup: 3.1, spread: [2.9, 3.2] }] },
      validationAccuracy: 0.989,
      testAccuracy: 0.988,
      seconds: 200,
      layers: layers([10, 25, 250]),
      tradeOff: [
        { flopsReduction: 120, validationAccuracy: 0.11, label: 'ratio 0.950' },
        { flopsReduction: 3.5, validationAccuracy: 0.987, label: 'ratio 0.475' },
        { flopsReduction: 4.2, validationAccuracy: 0.9852, label: 'ratio 0.713' },
      ],
    },
    { method: 'bn-scale', status: 'failed', error: 'criterion bn-scale: group 0 (conv1) has no BatchNormalization <gamma>', seconds: 0 } as ResultRow,
  ],
};

describe('report.html', () => {
  it.skipIf(!chromiumAvailable() && process.env.CI === undefined)('renders every plot in headless Chromium, self-contained', async () => {
    const path = await writeReport(RESULTS, join(tempDir(), 'report.html'));
    const html = readFileSync(path, 'utf8');
    expect(html).not.toMatch(/<script|<link|src="http/); // nothing to run or fetch at view time
    const inspect = `(() => {
      const visible = (svg, selector) => [...svg.querySelectorAll(selector)].filter((e) => { const b = e.getBBox(); return b.width > 0 || b.height > 0; }).length;
      return {
        figures: [...document.querySelectorAll('figure')].map((f) => {
          const svg = f.querySelector('svg');
          const box = svg.getBoundingClientRect();
          return { id: f.id, width: box.width, height: box.height,
            points: visible(svg, '.mark-symbol.role-mark path'), bars: visible(svg, '.mark-rect.role-mark path'),
            lines: visible(svg, '.mark-line.role-mark path'), rules: visible(svg, '.mark-rule.role-mark line'),
            legend: [...svg.querySelectorAll('.role-legend-label text')].map((t) => t.textContent) };
        }),
        rows: [...document.querySelectorAll('#results tbody tr')].map((tr) => tr.firstElementChild.textContent),
        bold: [...document.querySelectorAll('#results td')].filter((td) => getComputedStyle(td).fontWeight === '700').map((td) => td.textContent),
        title: document.querySelector('h1').textContent,
        failed: document.querySelector('tr.failed').textContent,
        verdict: document.querySelector('#verdict').textContent,
      };
    })()`;
    type Figure = { id: string; width: number; height: number; points: number; bars: number; lines: number; rules: number; legend: string[] };
    const { value, requests } = await evaluateInChromium<{ figures: Figure[]; rows: string[]; bold: string[]; title: string; failed: string; verdict: string }>(
      path,
      inspect,
    );
    expect(requests).toEqual([`file://${path}`]);
    expect(value.title).toBe('autoprune compare: lenet5 on mnist, tolerance 1 point');
    expect(value.rows).toEqual(['unpruned', 'agent (try-and-learn)', 'l1', 'bn-scale']);
    // The best value of each column: the agent's FLOPs, compression and speedup, l1's validation, the agent's test accuracy.
    expect(value.bold).toEqual(['4.90x', '8.30x', '3.60x', '99.10%', '98.90%']);
    expect(value.verdict).toBe(verdict(RESULTS.rows)!.join(''));
    expect(value.verdict).toContain('FLOPs: agent 4.90x, best criterion 4.20x (l1), 1.17 times; the agent leads');
    expect(value.failed).toContain('has no BatchNormalization <gamma>'); // escaped, shown as text
    const figure = Object.fromEntries(value.figures.map((f) => [f.id, f]));
    expect(Object.keys(figure)).toEqual(['trade-off', 'layers', 'agent-reward', 'agent-kept']);
    for (const f of value.figures) {
      expect(f.width).toBeGreaterThan(300);
      expect(f.height).toBeGreaterThan(150);
    }
    // Unpruned + 2 final models, and the probes near the floor (the collapsed one at 11% is left out): 3 + 2.
    expect(figure['trade-off'].points).toBe(1 + 2 + 3 + 2);
    expect(figure['trade-off'].rules).toBe(1);
    expect(figure['trade-off'].lines).toBe(2);
    expect(figure.layers.bars).toBe(2 * 3);
    expect(figure.layers.legend).toEqual(['agent (try-and-learn)', 'l1']);
    expect(figure['trade-off'].legend).toEqual(['unpruned', 'agent (try-and-learn)', 'l1']);
    for (const id of ['agent-reward', 'agent-kept']) {
      expect(figure[id].lines).toBe(3);
      expect(figure[id].legend).toEqual(['0: conv1 (20)', '1: conv2 (50)', '2: fc1 (500)']);
    }
  });

  it.skipIf(!chromiumAvailable() && process.env.CI === undefined).each([800, 1300])(
    'reads at %i px: nothing wider than the window (screenshot)',
    async (width) => {
      const dir = tempDir();
      const path = await writeReport(RESULTS, join(dir, 'report.html'));
      const screenshot = join(dir, `report-${width}.png`);
      const layout = `(() => ({
      page: document.documentElement.scrollWidth,
      window: window.innerWidth,
      right: Math.max(...[...document.querySelectorAll('svg, table, h1, p')].map((e) => e.getBoundingClientRect().right)),
      figures: [...document.querySelectorAll('figure svg')].map((svg) => svg.getBoundingClientRect().width),
    }))()`;
      const { value } = await evaluateInChromium<{ page: number; window: number; right: number; figures: number[] }>(path, layout, { width, screenshot });
      expect(value.window).toBe(width);
      expect(value.page).toBeLessThanOrEqual(width);
      expect(value.right).toBeLessThanOrEqual(width);
      for (const figureWidth of value.figures) expect(figureWidth).toBeGreaterThan(Math.min(300, width / 3));
      const shot = (await sharp(screenshot).metadata()).width!;
      expect(shot).toBeLessThanOrEqual(width); // the page, less a vertical scrollbar
      expect(shot).toBeGreaterThan(width - 20);
    },
  );

  it('says who leads on time, FLOPs, params and test accuracy, one line each, and by how much, honestly both ways', () => {
    const [timedRl, timedL1, failed] = RESULTS.rows;
    // Measured time leads the verdict when every row was timed side by side.
    expect(verdict([timedRl, timedL1, failed])![0]).toBe('time at batch 1 (this process): agent 3.60x, best criterion 3.10x (l1), 1.16 times; the agent leads');
    const untimed = ({ latency: _, ...row }: ResultRow) => row;
    const [rl, l1] = [untimed(timedRl), untimed(timedL1)];
    expect(verdict([{ ...rl, latency: timedRl.latency }, l1, failed])![0]).toMatch(/^FLOPs: /);
    // A batch some row was not timed at is left out, never compared with a missing time.
    const at256 = { target: 'this process', batches: [{ batch: 256, ms: 1, speedup: 2, spread: [2, 2] as [number, number] }] };
    expect(verdict([timedRl, { ...timedL1, latency: at256 }])![0]).toMatch(/^FLOPs: /);
    expect(verdict([rl, l1, failed])).toEqual([
      'FLOPs: agent 4.90x, best criterion 4.20x (l1), 1.17 times; the agent leads',
      'params: agent 8.30x, best criterion 5.10x (l1), 1.63 times; the agent leads',
      'test accuracy: agent 99.10%, l1 98.80% (+0.30 points)',
    ]);
    expect(
      verdict([rl, { ...l1, theoreticalSpeedup: 6 }, { ...l1, method: 'l2', theoreticalSpeedup: 6, compressionRatio: 9, testAccuracy: 0.992 }, failed]),
    ).toEqual([
      'FLOPs: agent 4.90x, best criterion 6.00x (l1, l2), 0.82 times; the criterion leads',
      'params: agent 8.30x, best criterion 9.00x (l2), 0.92 times; the criterion leads',
      'test accuracy: agent 99.10%, l1 98.80% (+0.30 points)',
    ]);
    // The best criterion is any criterion at its better ranking, or sensitivity; the verdict names it and its ranking.
    expect(verdict([rl, { ...l1, theoreticalSpeedup: 6, ranking: 'global' }, { ...l1, method: 'sensitivity', theoreticalSpeedup: 5 }])![0]).toMatch(
      /^FLOPs: agent 4\.90x, best criterion 6\.00x \(l1 \(global\)\), 0\.82 times; the criterion leads$/,
    );
    expect(verdict([rl, { ...l1, ranking: 'local', theoreticalSpeedup: 4.9 }, { ...l1, method: 'sensitivity', theoreticalSpeedup: 4 }])![0]).toMatch(
      /^FLOPs: agent 4\.90x, best criterion 4\.90x \(l1 \(local\)\), 1\.00 times; a tie$/,
    );
    // A criterion whose search the probe cap stopped before its resolution is named: the baseline is coarser than claimed.
    const probe = (ratio: number, withinTolerance: boolean) => ({
      probe: 1,
      ratio,
      validationAccuracy: 0.99,
      drop: 0,
      upperBound: 0.5,
      withinTolerance,
      steps: [],
    });
    const variant = (probes: ReturnType<typeof probe>[]) => ({
      ranking: 'local' as const,
      ratio: 0,
      theoreticalSpeedup: 1,
      compressionRatio: 1,
      validationAccuracy: 0.99,
      testAccuracy: 0.99,
      resolution: 0.01,
      probes,
    });
    const coarse = variant([probe(0.95, false), probe(0.475, false), probe(0.237, false)]);
    expect(searchEdge(coarse)).toEqual({ low: 0, high: 0.237, cutShort: true });
    // A lead over it is not settled (a finer search could undo it); its lead over the agent stands.
    expect(verdict([rl, { ...l1, variants: [coarse] }])![0]).toBe(
      'FLOPs: agent 4.90x, best criterion 4.20x (l1), 1.17 times; the agent leads, not settled: the search of l1 (local) stopped at its probe cap (more --probes settles it)',
    );
    expect(verdict([rl, { ...l1, theoreticalSpeedup: 6, variants: [coarse] }])![0]).toMatch(/; the criterion leads$/);
    const narrowed = variant([probe(0.5, false), probe(0.25, true), probe(0.255, false)]);
    expect(searchEdge(narrowed).cutShort).toBe(false);
    expect(searchEdge(variant([probe(0.95, true)])).cutShort).toBe(false); // everything fitted: nothing left to search
    // A search started low that the cap stopped while everything still fitted: the edge is above it, up to the largest ratio searched.
    const doubling = variant([probe(0.01, true), probe(0.02, true), probe(0.04, true)]);
    expect(searchEdge(doubling)).toEqual({ low: 0.04, high: 0.95, cutShort: true });
    expect(searchEdge(doubling, 0.04).cutShort).toBe(false);
    // Doubled, then bisected down to one resolution step: finished, whatever the rounding of 0.04 - 0.03.
    expect(searchEdge(variant([probe(0.01, true), probe(0.02, true), probe(0.04, false), probe(0.03, true)])).cutShort).toBe(false);
    expect(verdict([rl, { ...l1, variants: [narrowed] }])!.join('\n')).not.toMatch(/probe cap/);
    // A difference that rounds to zero is shown as +0.00, never -0.00.
    expect(verdict([rl, { ...l1, testAccuracy: rl.testAccuracy! + 0.00001 }])!.at(-1)).toMatch(/\(\+0\.00 points\)$/);
    expect(verdict([l1, failed])).toBeUndefined();
    expect(verdict([{ ...rl, status: 'failed' }, l1])).toBeUndefined();
  });

  it('names the baseline as the user gave it, never by the absolute path of the install', async () => {
    expect(await renderReport(RESULTS)).toContain('<p>Baseline: the shipped lenet5-mnist baseline; seed 0;');
    const trained = '/home/me/runs/20261204-101010-train-lenet5-mnist-ab12/model/model.json';
    expect(baselineLabel('lenet5', trained)).toBe('lenet5 (trained in run 20261204-101010-train-lenet5-mnist-ab12)');
    expect(baselineLabel('20261204-101010-train-lenet5-mnist-ab12', trained)).toBe('20261204-101010-train-lenet5-mnist-ab12');
    expect(baselineLabel('./mine/model.json', '/home/me/mine/model.json')).toBe('./mine/model.json');
  });

  it("lists the agent's decisions group by group: its own count, the count search, convergence", async () => {
    const html = await renderReport(RESULTS);
    const table = html.slice(html.indexOf('<table id="agent-groups">'), html.indexOf('</table>', html.indexOf('<table id="agent-groups">')));
    expect(table.match(/<tr>/g)).toHaveLength(1 + 3);
    expect(table).toContain('<td>1: conv2</td><td>50</td><td>20</td><td>20 &rarr; <s>10</s> &rarr; 15</td><td>15</td><td>158</td><td>yes</td><td>0.080</td>');
    expect(table).toContain('<td>2: fc1</td><td>500</td><td>150</td><td><s>150</s> &rarr; 188</td><td>188</td><td>250</td><td>no</td><td>0.410</td>');
    // Results written before the count search was recorded still render.
    const [rl, ...rest] = RESULTS.rows;
    const older = {
      ...RESULTS,
      rows: [{ ...rl, agent: rl.agent!.map(({ groupId, producers, size, kept, iterations }) => ({ groupId, producers, size, kept, iterations })) }, ...rest],
    };
    expect(await renderReport(older)).toContain('<td>0: conv1</td><td>20</td><td>-</td><td>-</td><td>11</td><td>150</td><td>-</td><td>-</td>');
  });

  const FINETUNE = parsePruneConfig({ model: 'm', dataset: 'mnist' }, 'test').finetune;

  it('merges compare runs of the same comparison (a method run again replaces its row), and refuses others', () => {
    const [rl, l1, failed] = RESULTS.rows;
    const merged = mergeResults([
      { runId: 'a', results: { ...RESULTS, rows: [rl] } },
      { runId: 'b', results: { ...RESULTS, backend: 'cpu', rows: [l1, failed] } },
    ]);
    expect(merged.rows.map((r) => r.method)).toEqual(['rl', 'l1', 'bn-scale']);
    expect(merged.backend).toBe('wasm');
    expect(() =>
      mergeResults([
        { runId: 'a', results: RESULTS },
        { runId: 'b', results: { ...RESULTS, tolerance: 2, rows: [] } },
      ]),
    ).toThrow('run "b" has tolerance 2, run "a" has tolerance 1: only runs of the same comparison can be merged');
    // Fine-tuned differently: not one comparison, where both runs record their fine-tunes; a run from before they were recorded merges.
    const tuned = (learningRate: number) => ({ ...RESULTS, finetunes: { finetune: { ...FINETUNE, learningRate }, finalFinetune: FINETUNE } });
    expect(() =>
      mergeResults([
        { runId: 'a', results: tuned(3e-4) },
        { runId: 'b', results: { ...tuned(1e-4), rows: [] } },
      ]),
    ).toThrow(/^run "b" has other finetunes than run "a" \(.*"learningRate":0.0001.*\): only runs of the same comparison can be merged$/);
    expect(
      mergeResults([
        { runId: 'a', results: tuned(3e-4) },
        { runId: 'b', results: { ...RESULTS, rows: [] } },
      ]).rows,
    ).toHaveLength(3);
    const redone = { ...failed, status: 'done', theoreticalSpeedup: 1.5 } as ResultRow;
    expect(
      mergeResults([
        { runId: 'a', results: RESULTS },
        { runId: 'b', results: { ...RESULTS, rows: [redone] } },
      ]).rows,
    ).toEqual([rl, l1, redone]);
  });

  it('takes the ranking that removes more FLOPs, and on a tie the more accurate one', () => {
    const variant = (ranking: 'local' | 'global', theoreticalSpeedup: number, validationAccuracy: number): RankingVariant => ({
      ranking,
      ratio: 0.5,
      theoreticalSpeedup,
      compressionRatio: 2,
      validationAccuracy,
      testAccuracy: 0.9,
      resolution: 0.05,
      probes: [],
    });
    expect(betterRanking([variant('local', 3, 0.99), variant('global', 3.5, 0.98)]).ranking).toBe('global');
    expect(betterRanking([variant('local', 3, 0.98), variant('global', 3, 0.99)]).ranking).toBe('global');
    expect(betterRanking([variant('local', 3, 0.99), variant('global', 3, 0.99)]).ranking).toBe('local');
  });

  it("names a criterion's ranking in the table and draws the sensitivity curves", async () => {
    const [rl, l1] = RESULTS.rows;
    const points = (drops: number[]) => drops.map((drop, i) => ({ ratio: (i + 1) / 4, kept: 3 - i, validationAccuracy: 0.99 - drop / 100, drop }));
    const sensitivity: ResultRow = {
      ...l1,
      method: 'sensitivity',
      sensitivity: {
        curves: [
          { groupId: 0, producers: ['conv1'], size: 4, points: points([0, 0.5, 30]) },
          { groupId: 1, producers: ['conv2'], size: 4, points: points([0.2, 2, 60]) },
        ],
        threshold: 0.5,
        ratios: { 0: 0.5, 1: 0 },
        probes: [],
      },
    };
    const html = readFileSync(await writeReport({ ...RESULTS, rows: [rl, { ...l1, ranking: 'global' }, sensitivity] }, join(tempDir(), 'report.html')), 'utf8');
    expect(html).toContain('<td>l1 (global)</td>');
    expect(html).toContain('<td>sensitivity</td>');
    expect(html).toContain('<figure id="sensitivity"><svg');
    expect(html).not.toMatch(/<figure id="sensitivity">[\s\S]*<figure id="sensitivity">/);
  });

  it('leaves out the agent plots when no agent ran', async () => {
    const html = readFileSync(await writeReport({ ...RESULTS, rows: RESULTS.rows.slice(1) }, join(tempDir(), 'report.html')), 'utf8');
    expect(html).toContain('id="trade-off"');
    expect(html).not.toContain('id="agent-reward"');
    expect(html).not.toContain('id="sensitivity"');
  });

  it('says why a report path cannot be written', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'taken.html'));
    expect(() => checkWritable(join(dir, 'missing', 'report.html'))).toThrow(
      new ReportPathError(`report path ${join(dir, 'missing', 'report.html')}: folder ${join(dir, 'missing')} does not exist`),
    );
    expect(() => checkWritable(join(dir, 'taken.html'))).toThrow(/taken\.html: is a folder, not a file/);
    expect(() => checkWritable('/proc/report.html')).toThrow(/report path \/proc\/report\.html: cannot write in \/proc \(ENOENT\)/);
    expect(() => checkWritable(join(dir, 'report.html'))).not.toThrow();
  });
});
