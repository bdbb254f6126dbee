/**
 * What each command records as run.json's `result`, and the schema a record
 * is checked against when it is read back: `runs`, `show`, `resume` and
 * `report` get typed fields, and a record that does not match is listed as
 * unreadable with the field named, never a crash. The schemas check the
 * fields autoprune reads back; other fields pass through. Every field is
 * optional because a run fills its result as it goes.
 */
import { z } from 'zod';
import { type CompareRunResult, METHODS } from '../compare/results.js';
import type { ProbeRecord, StepRecord } from '../heuristics/pipeline.js';
import type { PruneReport } from '../prune/report.js';
import type { TrainResult } from '../run/train-run.js';
import type { PruneResult } from '../run/try-and-learn.js';
import { listRuns, Run, RunError, type RunRecord, type UnreadableRun } from './records.js';

/** What a baseline (one criterion) run records. */
export interface BaselineResult {
  /** Pruning steps and, with a tolerance, the search's probes (without their steps), as they finish. */
  steps?: StepRecord[];
  probes?: Omit<ProbeRecord, 'steps'>[];
  /** The share of prunable channels removed, and the steps that removed it. */
  ratio?: number;
  finalSteps?: StepRecord[];
  report?: PruneReport;
  modelPath?: string;
}

export interface RunResults {
  train: TrainResult;
  prune: PruneResult;
  baseline: BaselineResult;
  compare: CompareRunResult;
}
export type RunCommand = keyof RunResults;

/** A record whose result was checked against its command's schema. */
export type CheckedRunRecord = { [C in RunCommand]: RunRecord<RunResults[C]> & { command: C } }[RunCommand];

const count = z.number().int().nonnegative();
const summary = z.looseObject({ macs: z.number(), params: z.number(), validationAccuracy: z.number(), testAccuracy: z.number() });
const report = z.looseObject({
  original: summary,
  pruned: summary,
  theoreticalSpeedup: z.number(),
  compressionRatio: z.number(),
  validationDrop: z.number(),
  testDrop: z.number(),
});
const group = z.looseObject({
  groupId: count,
  producers: z.array(z.string()),
  size: count,
  kept: z.array(count),
  agentKept: count,
  relaxed: count,
  probes: z.array(z.looseObject({ kept: count, lossBeforeFinetune: z.number(), validationAccuracy: z.number(), withinBudget: z.boolean() })),
  iterations: z.array(z.looseObject({ iteration: count, meanReward: z.number(), meanKept: z.number(), entropy: z.number() })),
  evaluations: count,
  converged: z.boolean(),
  validationAccuracy: z.number(),
  macs: z.number(),
  params: z.number(),
  checkpoint: z.string(),
  seconds: z.number(),
});
const step = z.looseObject({ step: count, ratio: z.number(), validationAccuracy: z.number() });
const row = z.looseObject({
  method: z.enum(METHODS),
  status: z.enum(['done', 'failed']),
  error: z.string().optional(),
  theoreticalSpeedup: z.number().optional(),
  compressionRatio: z.number().optional(),
  validationAccuracy: z.number().optional(),
  testAccuracy: z.number().optional(),
  seconds: z.number(),
});

const RESULT_SCHEMAS: Record<RunCommand, z.ZodType> = {
  train: z.looseObject({
    validationAccuracy: z.number().optional(),
    testAccuracy: z.number().optional(),
    modelPath: z.string().optional(),
    classNames: z.array(z.string()).optional(),
  }),
  prune: z.looseObject({
    baseline: z.string().optional(),
    classNames: z.array(z.string()).optional(),
    baseValidationAccuracy: z.number().optional(),
    rewardBaseAccuracy: z.number().optional(),
    groups: z.array(group).optional(),
    report: report.optional(),
    modelPath: z.string().optional(),
  }),
  baseline: z.looseObject({
    steps: z.array(step).optional(),
    ratio: z.number().optional(),
    report: report.optional(),
    modelPath: z.string().optional(),
  }),
  compare: z.looseObject({ baseline: z.string().optional(), rows: z.array(row).optional() }),
};

const isCommand = (command: string): command is RunCommand => Object.hasOwn(RESULT_SCHEMAS, command);

/** `record` (read from `file`) with its result checked against its command's schema; a RunError names the file and the field. */
export function checkedRecord(record: RunRecord, file: string): CheckedRunRecord {
  if (!isCommand(record.command)) throw new RunError(`${file}: a run of an unknown command "${record.command}"`);
  const checked = RESULT_SCHEMAS[record.command].safeParse(record.result);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    throw new RunError(`${file}: not a ${record.command} record (${['result', ...issue.path].join('.')}: ${issue.message})`);
  }
  // The schema above checked what the command's readers use.
  return record as CheckedRunRecord;
}

/**
 * A run of `command`, its result checked; a run of another command is a
 * RunError that says what it is and what `purpose` needed ("can be resumed").
 */
export async function openRun<C extends RunCommand>(runsDir: string, id: string, command: C, purpose: string): Promise<Run<RunResults[C]>> {
  return Run.open(runsDir, id, (record, file) => {
    if (record.command !== command) throw new RunError(`run "${id}" is a ${record.command} run; only ${command} runs ${purpose}`);
    return checkedRecord(record, file) as RunRecord<RunResults[C]>;
  });
}

/** The run records under `runsDir`, oldest first, each checked; those that fail are unreadable, with why. */
export function listCheckedRuns(runsDir: string): { records: CheckedRunRecord[]; unreadable: UnreadableRun[] } {
  const { records, unreadable } = listRuns(runsDir);
  const checked: CheckedRunRecord[] = [];
  for (const record of records) {
    const file = `${record.id}/run.json`;
    try {
      checked.push(checkedRecord(record, file));
    } catch (err) {
      unreadable.push({ id: record.id, reason: (err as Error).message.replace(`${file}: `, '') });
    }
  }
  return { records: checked, unreadable };
}
