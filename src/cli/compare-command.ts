/**
 * `autoprune compare`: every method from the same trained baseline, with the
 * same tolerance and the same fine-tuning per pruning step, in one table.
 * A method that fails is marked failed with its reason; the others still run,
 * and each finished row is recorded before the next method starts.
 */
import { join } from 'node:path';
import { CRITERIA } from '../heuristics/criteria.js';
import { writeFileAtomic } from '../models/io.js';
import { DEFAULT_HEURISTIC_CONFIG, DEFAULT_SEARCH, pruneToTolerance } from '../heuristics/pipeline.js';
import { type PruneReport, pruneReport } from '../prune/report.js';
import type { PruneConfig } from '../run/config.js';
import { guardRun, Run } from '../runs/records.js';
import { evaluateAccuracy } from '../train/train.js';
import { trainedModelAndData } from './baseline-command.js';
import { pruneCommand, type RunContext } from './prune-command.js';
import { formatTable } from './table.js';
import { UsageError } from './usage-error.js';

export const METHODS = ['rl', ...CRITERIA] as const;
export type Method = (typeof METHODS)[number];

export function parseMethods(list: string): Method[] {
  const names = list.split(',').map((m) => m.trim()).filter((m) => m.length > 0);
  const unknown = names.filter((m) => !(METHODS as readonly string[]).includes(m));
  if (unknown.length > 0) throw new UsageError(`--methods: unknown method${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; choose from ${METHODS.join(', ')}`);
  if (names.length === 0) throw new UsageError(`--methods: name at least one of ${METHODS.join(', ')}`);
  return [...new Set(names)] as Method[];
}

export interface ResultRow {
  method: Method;
  status: 'done' | 'failed';
  error?: string;
  theoreticalSpeedup?: number;
  compressionRatio?: number;
  measuredSpeedupBatch256?: number;
  validationAccuracy?: number;
  testAccuracy?: number;
  seconds: number;
  /** The run holding the method's pruned model (rl), or the compare run itself. */
  runId?: string;
}

function fromReport(method: Method, report: PruneReport, seconds: number, runId?: string): ResultRow {
  return {
    method,
    status: 'done',
    theoreticalSpeedup: report.theoreticalSpeedup,
    compressionRatio: report.compressionRatio,
    measuredSpeedupBatch256: report.measuredSpeedup.batch256,
    validationAccuracy: report.pruned.validationAccuracy,
    testAccuracy: report.pruned.testAccuracy,
    seconds,
    runId,
  };
}

const CSV_COLUMNS: (keyof ResultRow)[] = ['method', 'status', 'theoreticalSpeedup', 'compressionRatio', 'measuredSpeedupBatch256', 'validationAccuracy', 'testAccuracy', 'seconds', 'error'];

export function toCsv(rows: ResultRow[]): string {
  const cell = (v: unknown) => (v === undefined ? '' : /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
  return [CSV_COLUMNS.join(','), ...rows.map((r) => CSV_COLUMNS.map((c) => cell(r[c])).join(','))].join('\n') + '\n';
}

export function formatResults(rows: ResultRow[], base: { validation: number; test: number }): string {
  const pct = (x?: number) => (x === undefined ? '-' : `${(100 * x).toFixed(2)}%`);
  const times = (x?: number) => (x === undefined ? '-' : `${x.toFixed(2)}x`);
  return formatTable(
    ['method', 'FLOPs reduction', 'compression', 'measured speedup (256)', 'validation', 'test', 'time'],
    [
      ['unpruned', '1.00x', '1.00x', '1.00x', pct(base.validation), pct(base.test), '-'],
      ...rows.map((r) =>
        r.status === 'failed'
          ? [r.method, `failed: ${r.error}`, '', '', '', '', `${r.seconds.toFixed(0)} s`]
          : [r.method, times(r.theoreticalSpeedup), times(r.compressionRatio), times(r.measuredSpeedupBatch256), pct(r.validationAccuracy), pct(r.testAccuracy), `${r.seconds.toFixed(0)} s`],
      ),
    ],
  );
}

export interface CompareOptions {
  /** The rl method's config; its tolerance, seed and fine-tuning apply to every method. */
  config: PruneConfig;
  methods: Method[];
  runsDir: string;
}

export async function compareCommand(options: CompareOptions, context: RunContext): Promise<Run> {
  const { config, methods } = options;
  const { log, backend } = context;
  const { data, model: baseline, source } = await trainedModelAndData({ ...config, runsDir: options.runsDir }, backend, log);
  const run = await Run.create(options.runsDir, { command: 'compare', label: `${data.name}`, config: { ...config, methods }, backend: backend.name });
  log.line(`run: ${run.dir}`);
  const rows: ResultRow[] = [];
  const finetune = { ...config.finetune, seed: config.seed, restoreBest: true };
  try {
    return await guardRun(run, async () => {
      for (const method of methods) {
        log.line(`== ${method}`);
        const started = performance.now();
        let row: ResultRow;
        try {
          if (method === 'rl') {
            const child = await pruneCommand({ ...config, model: source }, context);
            const report = (child.record.result as { report?: PruneReport }).report;
            if (child.record.status !== 'done' || report === undefined) throw new Error(`prune run ${child.id} ended ${child.record.status}`);
            row = fromReport(method, report, (performance.now() - started) / 1000, child.id);
          } else {
            const heuristic = { ...DEFAULT_HEURISTIC_CONFIG, criterion: method, finetune, seed: config.seed };
            const result = await pruneToTolerance(baseline, data, heuristic, { ...DEFAULT_SEARCH, tolerance: config.tolerance });
            const report = await pruneReport(baseline, result.model, data);
            result.model.dispose();
            row = fromReport(method, report, (performance.now() - started) / 1000);
          }
        } catch (err) {
          row = { method, status: 'failed', error: (err as Error).message, seconds: (performance.now() - started) / 1000 };
          log.line(`${method} failed: ${row.error}`);
        }
        rows.push(row);
        await run.update((r) => (r.result = { baseline: source, rows }));
      }
      writeFileAtomic(join(run.dir, 'results.json'), `${JSON.stringify({ baseline: source, dataset: data.name, tolerance: config.tolerance, rows }, null, 2)}\n`);
      writeFileAtomic(join(run.dir, 'results.csv'), toCsv(rows));
      const base = { validation: await evaluateAccuracy(baseline, data.validation, data.inputShape), test: await evaluateAccuracy(baseline, data.test, data.inputShape) };
      log.line(formatResults(rows, base));
      log.line(`wrote ${join(run.dir, 'results.json')} and results.csv`);
      await run.finish('done');
      return run;
    });
  } finally {
    baseline.dispose();
  }
}
