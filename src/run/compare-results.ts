/**
 * A comparison's results, as data: one row per method, what results.json
 * holds, and the verdict that compares the agent with the best criterion.
 * Shared by the compare command, the HTML report, `runs` and the bench
 * scripts (no CLI and no I/O here).
 */
import { CRITERIA } from '../heuristics/criteria.js';
import { type ModelTimes, speedupAt } from '../latency/side-by-side.js';
import { atResolution, DEFAULT_SEARCH, type ProbeRecord, type Ranking } from '../heuristics/pipeline.js';
import type { SensitivityCurve, SensitivityProbe } from '../heuristics/sensitivity.js';
import type { LayerWidth, PruneReport } from './report.js';
import { type Certification, certifiedCheck, finalCertified, pairedDifference, type UncertifiedModel } from '../certify/certification.js';
import { RunError } from '../errors.js';
import type { PhaseSeconds } from '../phases.js';
import type { PruneConfig } from './config.js';

/** A fine-tune's settings, as a config holds them. */
type FinetuneSettings = PruneConfig['finetune'];

export const METHODS = ['rl', ...CRITERIA, 'sensitivity'] as const;
export type Method = (typeof METHODS)[number];

/** One point of a method's accuracy-vs-FLOPs trade-off (a tolerance probe, or the agent after a group). */
export interface TradeOffPoint {
  flopsReduction: number;
  validationAccuracy: number;
  label: string;
}

/** The agent's learning curve on one group, for the report. */
export interface AgentGroupHistory {
  groupId: number;
  producers: string[];
  size: number;
  kept: number;
  // The four fields below are absent in results written before autoprune recorded them.
  /** What the agent's own mask kept, before the count search. */
  agentKept?: number;
  /** The count search's fine-tuned probes: filters kept, and whether the drop stayed within the group's budget. */
  probes?: { kept: number; withinBudget: boolean }[];
  /** Whether the agent's search settled (greedy mask stable) before its iteration limit. */
  converged?: boolean;
  /** Mean Bernoulli entropy of the final policy (nats; 0.69 is a coin flip). */
  finalEntropy?: number;
  iterations: { iteration: number; meanReward: number; keptRatio: number }[];
}

/** One ranking's tolerance search of a criterion, before the final fine-tune. */
export interface RankingVariant {
  ranking: Ranking;
  /** Share of the prunable channels removed. */
  ratio: number;
  theoreticalSpeedup: number;
  compressionRatio: number;
  validationAccuracy: number;
  testAccuracy: number;
  /** Bracket width at which the bisection stopped. */
  resolution: number;
  probes: ProbeRecord[];
}

/** What the sensitivity method measured and chose. */
export interface SensitivityDetails {
  /** Validation drop of each group pruned alone at each ratio, before fine-tuning. */
  curves: SensitivityCurve[];
  /** The chosen threshold (points); absent when no plan fitted the tolerance. */
  threshold?: number;
  /** Share of channels removed per group id. */
  ratios: Record<number, number>;
  probes: SensitivityProbe[];
}

/** How a row without a result reads: "failed", or "not applicable" (bn-scale on a model without BatchNorm). */
export const statusText = (r: Pick<ResultRow, 'status'>) => (r.status === 'inapplicable' ? 'not applicable' : r.status);

export interface ResultRow {
  method: Method;
  /** A criterion's better ranking (the other is kept in `variants`). */
  ranking?: Ranking;
  /** `inapplicable`: the method cannot prune this model (bn-scale without BatchNorm); `error` says why. */
  status: 'done' | 'failed' | 'inapplicable';
  error?: string;
  theoreticalSpeedup?: number;
  compressionRatio?: number;
  measuredSpeedupBatch256?: number;
  validationAccuracy?: number;
  testAccuracy?: number;
  /** The test drop's two-sided interval (points; paired against the unpruned model). */
  testDropInterval?: [number, number];
  seconds: number;
  /** Where they went: the search's phases and the finish's (absent in results from before 2026-12-07). */
  phases?: PhaseSeconds;
  /** Peak resident memory (bytes) of the process that ran the method, when it finished (with --jobs, its own process). */
  peakMemory?: number;
  /** Measured on the compare's target at batch 1 and at its batch, side by side with the unpruned model and every other row. */
  latency?: ModelTimes;
  /** The method's path certified on the certification split; the row's numbers are those of the certified model. */
  certification?: Certification;
  /** The method's own final model when it did not certify (the row is then its certified fallback). */
  uncertified?: UncertifiedModel;
  /** Where the method's pruned model was saved. */
  modelPath?: string;
  /** The prune run of the rl method. */
  runId?: string;
  /** Filters (units) kept per layer. */
  layers?: LayerWidth[];
  tradeOff?: TradeOffPoint[];
  agent?: AgentGroupHistory[];
  /** A criterion's searches, local and global ranking. */
  variants?: RankingVariant[];
  sensitivity?: SensitivityDetails;
}

/** "1.45x (1.40-1.52)": the side-by-side measured speedup at `batch` and the spread of its rounds. */
export function speedupCell(r: ResultRow, batch: number): string {
  const measured = r.latency?.batches.find((b) => b.batch === batch);
  return measured === undefined ? '-' : `${measured.speedup.toFixed(2)}x (${measured.spread[0].toFixed(2)}-${measured.spread[1].toFixed(2)})`;
}

/** The method as the tables name it: a criterion with the ranking it used, e.g. "l2 (global)". */
export function methodLabel(row: Pick<ResultRow, 'method' | 'ranking'>): string {
  return row.ranking === undefined ? row.method : `${row.method} (${row.ranking})`;
}

export function fromReport(method: Method, report: PruneReport, seconds: number, details: Partial<ResultRow>): ResultRow {
  return {
    method,
    status: 'done',
    theoreticalSpeedup: report.theoreticalSpeedup,
    compressionRatio: report.compressionRatio,
    measuredSpeedupBatch256: report.measuredSpeedup.batch256,
    validationAccuracy: report.pruned.validationAccuracy,
    testAccuracy: report.pruned.testAccuracy,
    ...(report.testDropInterval && { testDropInterval: report.testDropInterval }),
    seconds,
    ...details,
  };
}

const CSV_COLUMNS: (keyof ResultRow)[] = [
  'method',
  'status',
  'theoreticalSpeedup',
  'compressionRatio',
  'measuredSpeedupBatch256',
  'validationAccuracy',
  'testAccuracy',
  'seconds',
  'error',
];

/** Columns derived from a row's certification and test interval. */
const CERTIFICATION_COLUMNS: [string, (r: ResultRow) => unknown][] = [
  [
    'certified',
    (r) => (r.certification === undefined ? undefined : finalCertified(r.certification) ? 'final' : `fallback: ${certifiedCheck(r.certification).label}`),
  ],
  ['certifiedDrop', (r) => r.certification && certifiedCheck(r.certification).drop],
  ['certifiedUpperBound', (r) => r.certification && certifiedCheck(r.certification).upperBound],
  ['certificationImages', (r) => r.certification?.images],
  ['testDropLow', (r) => r.testDropInterval?.[0]],
  ['testDropHigh', (r) => r.testDropInterval?.[1]],
];

export function toCsv(rows: ResultRow[]): string {
  const cell = (v: unknown) => (v === undefined ? '' : /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
  const header = [...CSV_COLUMNS, ...CERTIFICATION_COLUMNS.map(([name]) => name)];
  const line = (r: ResultRow) => [...CSV_COLUMNS.map((c) => cell(r[c])), ...CERTIFICATION_COLUMNS.map(([, value]) => cell(value(r)))].join(',');
  return `${[header.join(','), ...rows.map(line)].join('\n')}\n`;
}

/** The one that removed the most FLOPs; on a tie the more accurate on validation, then the first. */
function mostFlopsRemovedOf<T extends { theoreticalSpeedup?: number; validationAccuracy?: number | null }>(items: T[]): T | undefined {
  const better = (a: T, b: T) =>
    b.theoreticalSpeedup! > a.theoreticalSpeedup! || (b.theoreticalSpeedup === a.theoreticalSpeedup && b.validationAccuracy! > a.validationAccuracy!);
  return items.length === 0 ? undefined : items.reduce((a, b) => (better(a, b) ? b : a));
}

/** The finished row that removed the most FLOPs (the more accurate on a tie). */
export function mostFlopsRemoved<R extends Pick<ResultRow, 'status' | 'theoreticalSpeedup'> & { validationAccuracy?: number | null }>(
  rows: R[],
): R | undefined {
  return mostFlopsRemovedOf(rows.filter((r) => r.status === 'done'));
}

/** The better of a criterion's rankings: more FLOPs removed, on a tie the higher validation accuracy (local on a full tie). */
export function betterRanking(variants: RankingVariant[]): RankingVariant {
  return mostFlopsRemovedOf(variants)!;
}

/**
 * The edge a criterion's search ended with: the largest ratio within the
 * tolerance and the smallest over it (the largest ratio searched when none
 * was over), and
 * whether the probe cap stopped it before that bracket was narrower than its
 * resolution (a coarser baseline than the compare claims).
 */
export function searchEdge(
  variant: Pick<RankingVariant, 'probes' | 'resolution'>,
  maxRatio = DEFAULT_SEARCH.maxRatio,
): { low: number; high: number; cutShort: boolean } {
  const within = variant.probes.filter((p) => p.withinTolerance).map((p) => p.ratio);
  const over = variant.probes.filter((p) => !p.withinTolerance).map((p) => p.ratio);
  const low = Math.max(0, ...within);
  // With nothing over the tolerance, the edge is above the largest probe (a search started low can stop before maxRatio).
  const high = over.length > 0 ? Math.min(...over) : Math.max(low, maxRatio);
  return { low, high, cutShort: !atResolution(high - low, variant.resolution) };
}

/** Criteria searches (method and ranking) that the probe cap stopped before their resolution. */
export function cutShortSearches(rows: ResultRow[]): string[] {
  return rows.flatMap((row) =>
    (row.variants ?? [])
      .filter((v) => v.resolution !== undefined && searchEdge(v).cutShort)
      .map((v) => methodLabel({ method: row.method, ranking: v.ranking })),
  );
}

/**
 * The agent against the best hand-made method (every criterion at its
 * better ranking, and sensitivity: "criterion" in the verdict's words), one short line per objective: measured time
 * (where every row was timed side by side), FLOPs, params, test accuracy,
 * and what certification adds. A lead over a criterion whose search the
 * probe cap stopped before its resolution is "not settled": a finer search
 * could undo it (a lead of that criterion's stands, a finer search only
 * widens it).
 */
export function verdict(rows: ResultRow[]): string[] | undefined {
  const finished = rows.filter((r) => r.status === 'done');
  const agent = finished.find((r) => r.method === 'rl');
  const criteria = finished.filter((r) => r.method !== 'rl');
  if (agent === undefined || criteria.length === 0) return undefined;
  const best = mostFlopsRemoved(criteria)!;
  const coarse = cutShortSearches(criteria);
  /** The agent against the best criterion on one measure (every one that ties it named). */
  const contest = (measure: string, value: (r: ResultRow) => number) => {
    const reference = criteria.reduce((a, b) => (value(b) > value(a) ? b : a));
    const [ours, theirs] = [value(agent), value(reference)];
    const names = criteria
      .filter((r) => value(r) === theirs)
      .map(methodLabel)
      .join(', ');
    const outcome =
      ours < theirs
        ? 'the criterion leads'
        : coarse.length > 0
          ? `${ours > theirs ? 'the agent leads' : 'a tie'}, not settled: the search of ${coarse.join(', ')} stopped at its probe cap (more --probes settles it)`
          : ours > theirs
            ? 'the agent leads'
            : 'a tie';
    return `${measure}: agent ${ours.toFixed(2)}x, best criterion ${theirs.toFixed(2)}x (${names}), ${(ours / theirs).toFixed(2)} times; ${outcome}`;
  };
  const points = Math.round(10000 * (agent.testAccuracy! - best.testAccuracy!)) / 100 + 0; // + 0: no "-0.00" for a difference that rounds to zero
  const accuracy = `test accuracy: agent ${(100 * agent.testAccuracy!).toFixed(2)}%, ${methodLabel(best)} ${(100 * best.testAccuracy!).toFixed(2)}% (${points >= 0 ? '+' : ''}${points.toFixed(2)} points)`;
  // Measured time first, where every row was timed side by side: at batch 1, then at the compare's batch.
  const timed = (agent.latency?.batches ?? []).map((b) => b.batch).filter((batch) => finished.every((r) => speedupAt(r.latency, batch) !== undefined));
  return [
    ...timed.map((batch) => contest(`time at batch ${batch} (${agent.latency!.target})`, (r) => speedupAt(r.latency, batch) ?? 0)),
    contest('FLOPs', (r) => r.theoreticalSpeedup!),
    contest('params', (r) => r.compressionRatio!),
    accuracy,
    ...certificationVerdict(agent, best, finished),
  ];
}

/**
 * What certification adds to the verdict: the rows whose own final model did
 * not certify (each row is its certified model), and whether the agent's and
 * the best criterion's accuracies on the certification images differ by more
 * than chance (paired, two-sided interval at the run's confidence).
 */
function certificationVerdict(agent: ResultRow, best: ResultRow, rows: ResultRow[]): string[] {
  const parts: string[] = [];
  const fellBack = rows.filter((r) => r.certification !== undefined && !finalCertified(r.certification));
  if (fellBack.length > 0)
    parts.push(
      `not certified as pruned, so the row is the last certified model of its path: ${fellBack.map((r) => `${methodLabel(r)} (${certifiedCheck(r.certification!).label})`).join(', ')}`,
    );
  if (agent.certification !== undefined && best.certification !== undefined) {
    const { confidence } = agent.certification;
    const { difference, interval, distinguishable } = pairedDifference(agent.certification, best.certification, confidence);
    const range = `${+(100 * confidence).toFixed(1)}% interval ${interval[0].toFixed(2)} to ${interval[1].toFixed(2)}`;
    const sign = difference >= 0 ? '+' : '';
    parts.push(
      distinguishable
        ? `certification accuracy: the agent ${sign}${difference.toFixed(2)} points against ${methodLabel(best)} (${range})`
        : `certification accuracy: the agent and ${methodLabel(best)} differ by ${sign}${difference.toFixed(2)} points, less than chance explains (${range})`,
    );
  }
  return parts;
}

/** What a compare run records (run.json's result) as its methods finish; results.json holds the whole table. */
/** What a compare was estimated to take before it started (estimate.ts): in all, and each method's row; seconds, low and high. */
export interface CompareEstimate {
  total: [number, number];
  rows: Record<string, [number, number]>;
}

export interface CompareRunResult {
  baseline?: string;
  rows?: ResultRow[];
  estimate?: CompareEstimate;
  /** The agent's prune run folder, recorded when it starts: a resumed compare resumes it. */
  agentRun?: string;
}

/** What results.json holds: enough to redraw the report without the run. */
export interface CompareResults {
  baseline: string;
  model: string;
  dataset: string;
  /** Class names by label, where the data names them (image folders, CIFAR-10). */
  classNames?: string[];
  tolerance: number;
  seed: number;
  backend: string;
  /** validationAccuracy: on the selection split (where every choice is made); certificationAccuracy: on the certification split. */
  unpruned: { validationAccuracy: number; certificationAccuracy?: number; testAccuracy: number; macs: number; params: number; latency?: ModelTimes };
  /** Images of the selection and certification splits, and the confidence of every bound. */
  holdout?: { selection: number; certification: number; confidence: number };
  /** What every method got alike: each probe's or group's fine-tune, and the final one (absent in results from before 2026-12-07). */
  finetunes?: { finetune: FinetuneSettings; finalFinetune: FinetuneSettings };
  rows: ResultRow[];
  /** Set beside each row's seconds: what the compare was estimated to take before it started. */
  estimate?: CompareEstimate;
}

/**
 * One result from several compare runs of the same baseline, data set, tolerance
 * and seed (e.g. methods run in parallel processes, or one method run again):
 * a method in several runs takes its row from the last run named.
 */
export function mergeResults(parts: { runId: string; results: CompareResults }[]): CompareResults {
  const [first, ...rest] = parts;
  const rows = [...first.results.rows];
  for (const { runId, results } of rest) {
    for (const field of ['baseline', 'dataset', 'tolerance', 'seed'] as const) {
      if (results[field] !== first.results[field])
        throw new RunError(
          `run "${runId}" has ${field} ${results[field]}, run "${first.runId}" has ${field} ${first.results[field]}: only runs of the same comparison can be merged`,
        );
    }
    // Rows fine-tuned or certified differently are not one comparison either (where both runs say how).
    for (const field of ['holdout', 'finetunes'] as const) {
      const [mine, theirs] = [results[field], first.results[field]].map((v) => JSON.stringify(v));
      if (mine !== undefined && theirs !== undefined && mine !== theirs)
        throw new RunError(
          `run "${runId}" has other ${field} than run "${first.runId}" (${mine} against ${theirs}): only runs of the same comparison can be merged`,
        );
    }
    for (const row of results.rows) {
      const earlier = rows.findIndex((r) => r.method === row.method);
      if (earlier >= 0) rows[earlier] = row;
      else rows.push(row);
    }
  }
  return { ...first.results, rows };
}
