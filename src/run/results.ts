/**
 * What each command records as run.json's `result`, and the schema a record
 * is checked against when it is read back: `runs`, `show`, `resume` and
 * `report` get typed fields, and a record that does not match is listed as
 * unreadable with the field named, never a crash. The schemas check the
 * fields autoprune reads back; other fields pass through. Every field is
 * optional because a run fills its result as it goes.
 */
import { z } from 'zod';
import type { Certification, UncertifiedModel } from '../certify/certification.js';
import { type CompareRunResult, METHODS } from './compare-results.js';
import { type ProbeRecord, RANKINGS, type StepRecord } from '../heuristics/pipeline.js';
import type { PruneReport } from './report.js';
import type { TrainResult } from './train-run.js';
import type { PruneResult } from './try-and-learn.js';
import { listRuns, Run, type RunRecord, type UnreadableRun } from './records.js';
import { RunError } from '../errors.js';
import type { PhaseSeconds } from '../phases.js';

/** What a criterion's run (`autoprune criterion`) records. */
export interface CriterionResult {
  /** Pruning steps and, with a tolerance, the search's probes (without their steps), as they finish. */
  steps?: StepRecord[];
  probes?: Omit<ProbeRecord, 'steps'>[];
  /** The share of prunable channels removed, and the steps that removed it. */
  ratio?: number;
  finalSteps?: StepRecord[];
  report?: PruneReport;
  modelPath?: string;
  /** The final model certified on the certification split (half the validation images), or the fallback. */
  certification?: Certification;
  uncertified?: UncertifiedModel;
  /** Where the run's time went (absent in records from before 2026-12-07). */
  phases?: PhaseSeconds;
}

export interface RunResults {
  train: TrainResult;
  prune: PruneResult;
  criterion: CriterionResult;
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
/** What a group decision holds for listing, showing and resuming alike. */
const groupDecided = {
  groupId: count,
  producers: z.array(z.string()),
  size: count,
  kept: z.array(count),
  agentKept: count,
  relaxed: count,
};
const group = z.looseObject({
  ...groupDecided,
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
const certification = z.looseObject({
  tolerance: z.number(),
  confidence: z.number(),
  images: count,
  baseAccuracy: z.number(),
  path: z.array(
    z.looseObject({
      label: z.string(),
      accuracy: z.number(),
      n: count,
      n10: count,
      n01: count,
      drop: z.number(),
      upperBound: z.number(),
      confidence: z.number(),
      certified: z.boolean(),
    }),
  ),
  chosen: z.number().int().min(-1),
  correct: z.string(),
});
const row = z.looseObject({
  method: z.enum(METHODS),
  status: z.enum(['done', 'failed', 'inapplicable']),
  error: z.string().optional(),
  theoreticalSpeedup: z.number().optional(),
  compressionRatio: z.number().optional(),
  validationAccuracy: z.number().optional(),
  testAccuracy: z.number().optional(),
  seconds: z.number(),
  certification: certification.optional(),
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
    certification: certification.optional(),
    searchOnly: z.boolean().optional(),
  }),
  criterion: z.looseObject({
    steps: z.array(step).optional(),
    ratio: z.number().optional(),
    report: report.optional(),
    modelPath: z.string().optional(),
    certification: certification.optional(),
  }),
  compare: z.looseObject({ baseline: z.string().optional(), rows: z.array(row).optional(), agentRun: z.string().optional() }),
};

/**
 * What `runs` and `show` read, checked leniently: records of earlier versions
 * still list, and an accuracy that was NaN is stored by JSON as null.
 */
const listedReport = z.looseObject({
  pruned: z.looseObject({ testAccuracy: z.number().nullable() }),
  theoreticalSpeedup: z.number(),
  compressionRatio: z.number(),
  testDrop: z.number().nullable(),
});
const phases = z.record(z.string(), z.number());
const LISTING_SCHEMAS = {
  train: z.looseObject({ testAccuracy: z.number().nullable().optional(), modelPath: z.string().optional() }),
  prune: z.looseObject({
    groups: z
      .array(
        z.looseObject({
          ...groupDecided,
          seconds: z.number().optional(),
          phases: phases.optional(),
        }),
      )
      .optional(),
    summary: z.looseObject({ seconds: z.number(), phases: phases.optional() }).optional(),
    estimate: z.looseObject({ total: z.tuple([z.number(), z.number()]) }).optional(),
    report: listedReport.optional(),
    modelPath: z.string().optional(),
    certification: certification.optional(),
  }),
  criterion: z.looseObject({
    report: listedReport.optional(),
    modelPath: z.string().optional(),
    certification: certification.optional(),
    phases: phases.optional(),
  }),
  compare: z.looseObject({
    rows: z
      .array(
        z.looseObject({
          method: z.enum(METHODS),
          ranking: z.enum(RANKINGS).optional(),
          status: z.enum(['done', 'failed', 'inapplicable']),
          error: z.string().optional(),
          theoreticalSpeedup: z.number().optional(),
          compressionRatio: z.number().optional(),
          validationAccuracy: z.number().nullable().optional(),
          testAccuracy: z.number().nullable().optional(),
          latency: z
            .looseObject({
              target: z.string(),
              batches: z.array(z.looseObject({ batch: z.number(), ms: z.number(), speedup: z.number(), spread: z.tuple([z.number(), z.number()]) })),
            })
            .optional(),
          certification: certification.optional(),
          seconds: z.number(),
          phases: phases.optional(),
        }),
      )
      .optional(),
    estimate: z.looseObject({ rows: z.record(z.string(), z.tuple([z.number(), z.number()])) }).optional(),
  }),
} satisfies Record<RunCommand, z.ZodType>;

/** A record as `runs` and `show` read it (its result checked by the lenient schema above). */
export type ListedRunRecord = { [C in RunCommand]: RunRecord<z.infer<(typeof LISTING_SCHEMAS)[C]>> & { command: C } }[RunCommand];

const isCommand = (command: string): command is RunCommand => Object.hasOwn(RESULT_SCHEMAS, command);

/** Checks `record` (read from `file`) against `schemas`; a RunError names the file and the field. */
function check(record: RunRecord, file: string, schemas: Record<RunCommand, z.ZodType>): void {
  if (!isCommand(record.command)) throw new RunError(`${file}: a run of an unknown command "${record.command}"`);
  const checked = schemas[record.command].safeParse(record.result);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    throw new RunError(`${file}: not a ${record.command} record (${['result', ...issue.path].join('.')}: ${issue.message})`);
  }
}

/** `record` as `runs` and `show` read it, checked leniently; a RunError names the file and the field. */
export function listedRecord(record: RunRecord, file: string): ListedRunRecord {
  check(record, file, LISTING_SCHEMAS);
  return record as ListedRunRecord; // what the lenient schema checked
}

/** `record` (read from `file`) with its result checked against its command's full schema; a RunError names the file and the field. */
export function checkedRecord(record: RunRecord, file: string): CheckedRunRecord {
  check(record, file, RESULT_SCHEMAS);
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

/** The run records under `runsDir`, oldest first, as `runs` lists them; those that fail the check are unreadable, with why. */
export function listCheckedRuns(runsDir: string): { records: ListedRunRecord[]; unreadable: UnreadableRun[] } {
  const { records, unreadable } = listRuns(runsDir);
  const listed: ListedRunRecord[] = [];
  for (const record of records) {
    const file = `${record.id}/run.json`;
    try {
      listed.push(listedRecord(record, file));
    } catch (err) {
      unreadable.push({ id: record.id, reason: (err as Error).message.replace(`${file}: `, '') });
    }
  }
  return { records: listed, unreadable };
}
