/**
 * Run records: every command that produces results writes `runs/<run-id>/`
 * holding a lowdb JSON record (written atomically by lowdb's steno writer)
 * next to the artefacts (models, checkpoints, reports).
 */
import { randomBytes } from 'node:crypto';
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { Low } from 'lowdb';
import { JSONFile } from 'lowdb/node';
import { z } from 'zod';
import { InterruptedError, RunError } from '../errors.js';
import { migrateRecord, RECORD_VERSION } from './migrations.js';

export const RUN_STATUSES = ['running', 'done', 'failed', 'interrupted'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** The fields every command's config records (besides its own). */
export interface RecordedConfig {
  /** A zoo name, a run id or a model.json path, as given. */
  model?: string;
  /** A data set name, or absent for a folder (`data`). */
  dataset?: string;
  /** A data folder's absolute path. */
  data?: string;
  seed?: number;
  /** Points of accuracy the run may lose (pruning commands). */
  tolerance?: number;
  [field: string]: unknown;
}

/**
 * A run's record. `R`: what its command records as results (see
 * results.ts for each command's, checked when read).
 */
export interface RunRecord<R extends object = object> {
  /** The layout it is written in (migrations.ts); older records are migrated as they are read. */
  schemaVersion: number;
  id: string;
  /** The CLI command that created the run, e.g. "train". */
  command: string;
  status: RunStatus;
  createdAt: string;
  updatedAt: string;
  /** Everything needed to repeat the run: resolved options, seed, data set, model. */
  config: RecordedConfig;
  /** The TensorFlow.js backend the numbers were measured on. */
  backend: string;
  /** Command-specific results (accuracies, timings, metrics); filled as the run progresses. */
  result: R;
  error?: string;
  /** Process that last ran it: a "running" run whose process is gone has crashed. */
  pid?: number;
  /** That process's start time (Linux clock ticks since boot), so a later process reusing the pid is not taken for it. */
  pidStart?: string;
  /** The largest resident memory (bytes) of any process that ran it, as far as the last write (the operating system's peak RSS). */
  peakMemory?: number;
}

/** This process's peak resident memory so far, in bytes. */
export const peakResidentBytes = () => process.resourceUsage().maxRSS * 1024;

/** This process as a run's owner: its pid and start time. */
export function thisProcess(): Pick<RunRecord, 'pid' | 'pidStart'> {
  return { pid: process.pid, pidStart: processStart(process.pid) };
}

/** A process's start time from /proc (Linux), or undefined where there is none. */
export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name start at field 3; the start time is field 22.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export const RECORD_FILE = 'run.json';
/** Held by a resume while it checks and takes a run over (Run.takeOver). */
const TAKEOVER_LOCK = '.takeover.lock';

/**
 * Creates `lock` exclusively and returns its descriptor; `busy()` is thrown
 * while another live process holds it. A lock whose holder has died (or
 * that stayed empty for a minute: its holder died before writing) is
 * replaced.
 */
function lockExclusively(lock: string, busy: () => Error): number {
  const create = (): number | undefined => {
    try {
      return openSync(lock, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
      throw err;
    }
  };
  let fd = create();
  if (fd === undefined && heldByTheDead(lock)) {
    rmSync(lock, { force: true });
    fd = create();
  }
  if (fd === undefined) throw busy();
  return fd;
}

function heldByTheDead(lock: string): boolean {
  let holder: Pick<RunRecord, 'pid' | 'pidStart'> | undefined;
  try {
    holder = JSON.parse(readFileSync(lock, 'utf8'));
  } catch {
    // Empty: its holder is between creating and writing it, or died there.
  }
  if (holder?.pid === undefined) return existsSync(lock) && Date.now() - statSync(lock).mtimeMs > 60_000;
  return !processAlive(holder.pid, holder.pidStart);
}

/** What a record must hold to be listed, shown or resumed (fields of other versions pass through). */
const RunRecordSchema = z.looseObject({
  id: z.string(),
  schemaVersion: z.number().int(),
  command: z.string(),
  status: z.enum(RUN_STATUSES),
  createdAt: z.string(),
  updatedAt: z.string(),
  config: z.looseObject({
    model: z.string().optional(),
    dataset: z.string().optional(),
    data: z.string().optional(),
    seed: z.number().optional(),
    tolerance: z.number().optional(),
  }),
  backend: z.string(),
  result: z.record(z.string(), z.unknown()),
  error: z.string().optional(),
  pid: z.number().int().optional(),
  pidStart: z.string().optional(),
});

/** Reads and checks a run record; a RunError names the file and what is wrong with it. */
export function readRunRecord(file: string): RunRecord {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new RunError(`${file}: unreadable run record (${(err as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new RunError(`${file}: not a run record (top level: expected an object)`);
  const checked = RunRecordSchema.safeParse(migrateRecord(parsed as Record<string, unknown>, file));
  if (!checked.success) {
    const issue = checked.error.issues[0];
    throw new RunError(`${file}: not a run record (${issue.path.join('.') || 'top level'}: ${issue.message})`);
  }
  return checked.data as RunRecord;
}

/**
 * Checks, before any work, that runs can be written under `runsDir` (made
 * when missing): a file in its place or a read-only disk is a one-line error.
 */
export function checkRunsDir(runsDir: string): void {
  const dir = resolve(runsDir);
  let existing = dir;
  while (!existsSync(existing)) existing = dirname(existing);
  if (!statSync(existing).isDirectory()) throw new RunError(`runs folder ${dir}: ${existing === dir ? 'is' : `${existing} is`} a file, not a folder`);
  try {
    accessSync(existing, constants.W_OK);
  } catch (err) {
    throw new RunError(`runs folder ${dir}: cannot write in ${existing} (${(err as NodeJS.ErrnoException).code})`);
  }
}

/**
 * A model's short name for run ids and listings: a zoo name or run id as
 * given; for a model.json path, its folder's name (a run's model folder: the
 * run id's label), without a trailing data set name, at most 24 characters.
 */
export function modelShortName(spec: string, dataset: string): string {
  let name = spec;
  if (spec.endsWith('.json')) {
    const parts = resolve(spec).split(sep);
    name = parts.at(-2) === 'model' ? (parts.at(-3) ?? 'model') : (parts.at(-2) ?? 'model');
  }
  const runLabel = /^\d{8}-\d{6}-[a-z]+-(.+)-[0-9a-f]{4}$/.exec(name); // a run id (given as such, or its model's folder): its label
  if (runLabel !== null) name = runLabel[1];
  name = name.replace(new RegExp(`[-_]${dataset.replace(/[^\w-]/g, '')}$`), '').replace(/[^\w-]+/g, '_');
  return name.length > 24 ? name.slice(0, 24) : name;
}

export function newRunId(command: string, label: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${stamp}-${command}-${label}-${randomBytes(2).toString('hex')}`;
}

export class Run<R extends object = object> {
  private constructor(
    readonly dir: string,
    private readonly db: Low<RunRecord<R>>,
  ) {}

  get record(): RunRecord<R> {
    return this.db.data;
  }

  get id(): string {
    return this.db.data.id;
  }

  /** Creates `runsDir/<id>/` and its record with status "running" and `result` as the results so far. */
  static async create<R extends object>(
    runsDir: string,
    init: Pick<RunRecord<R>, 'command' | 'config' | 'backend' | 'result'> & { label: string },
  ): Promise<Run<R>> {
    const id = newRunId(init.command, init.label);
    const dir = resolve(runsDir, id);
    try {
      mkdirSync(dir, { recursive: true });
    } catch (err) {
      throw new RunError(`cannot create the run folder ${dir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    const now = new Date().toISOString();
    const record: RunRecord<R> = {
      schemaVersion: RECORD_VERSION,
      id,
      command: init.command,
      status: 'running',
      createdAt: now,
      updatedAt: now,
      config: init.config,
      backend: init.backend,
      result: init.result,
      ...thisProcess(),
      peakMemory: peakResidentBytes(),
    };
    const db = new Low<RunRecord<R>>(new JSONFile(join(dir, RECORD_FILE)), record);
    await db.write();
    return new Run(dir, db);
  }

  /**
   * Opens a run's record. `check` reads its result (a command's schema,
   * results.ts) and throws a RunError naming what is wrong; without it
   * the result is left unread.
   */
  static async open(runsDir: string, id: string): Promise<Run>;
  static async open<R extends object>(runsDir: string, id: string, check: (record: RunRecord, file: string) => RunRecord<R>): Promise<Run<R>>;
  static async open(runsDir: string, id: string, check = (record: RunRecord, _file: string) => record): Promise<Run> {
    checkRunId(id);
    const dir = resolve(runsDir, id);
    const file = join(dir, RECORD_FILE);
    if (!existsSync(file)) throw new RunError(`run "${id}" not found (no ${file})`);
    return new Run(dir, new Low<RunRecord>(new JSONFile(file), check(readRunRecord(file), file)));
  }

  /** Before this process takes the run over: removes a temporary record a failed write (a full disk) or a killed process left. */
  private removeStaleTemporaryFiles(): void {
    for (const name of readdirSync(this.dir)) {
      if (name === `.${RECORD_FILE}.tmp` || name.startsWith(`${RECORD_FILE}.exit-`)) rmSync(join(this.dir, name), { force: true });
    }
  }

  /**
   * Takes the run over for `resume`: checks that it can be resumed
   * (checkResumable, on the record as it is on disk now) and records this
   * process as its owner. A lock file held from the check to the write makes
   * the two one step, so of two resumes started at once only one passes.
   */
  async takeOver(backend: string): Promise<void> {
    const lock = join(this.dir, TAKEOVER_LOCK);
    const owner = thisProcess();
    const fd = lockExclusively(lock, () => new RunError(`run "${this.id}" is being resumed by another process; let it go on, or stop it first`));
    try {
      writeSync(fd, JSON.stringify(owner));
      closeSync(fd);
      checkResumable(readRunRecord(join(this.dir, RECORD_FILE)), backend);
      this.removeStaleTemporaryFiles();
      await this.update((r) => {
        Object.assign(r, { status: 'running' }, owner);
        delete r.error;
      });
    } finally {
      rmSync(lock, { force: true });
    }
  }

  async update(change: (record: RunRecord<R>) => void): Promise<void> {
    change(this.db.data);
    this.db.data.updatedAt = new Date().toISOString();
    this.db.data.peakMemory = Math.max(this.db.data.peakMemory ?? 0, peakResidentBytes());
    await this.db.write();
  }

  async finish(status: Exclude<RunStatus, 'running'>, error?: string): Promise<void> {
    await this.update((r) => {
      r.status = status;
      if (error !== undefined) r.error = error;
    });
  }

  /** finish, written synchronously: for a process about to exit at once (a second Ctrl-C). */
  finishNow(status: Exclude<RunStatus, 'running'>, error: string): void {
    Object.assign(this.db.data, {
      status,
      error,
      updatedAt: new Date().toISOString(),
      peakMemory: Math.max(this.db.data.peakMemory ?? 0, peakResidentBytes()),
    });
    const file = join(this.dir, RECORD_FILE);
    const tmp = `${file}.exit-${process.pid}`;
    try {
      writeFileSync(tmp, JSON.stringify(this.db.data, null, 2));
      renameSync(tmp, file);
      // An asynchronous write still in flight would leave its temporary file behind when the process exits now.
      rmSync(join(this.dir, `.${RECORD_FILE}.tmp`), { force: true });
    } catch {
      // Quitting anyway: the record keeps what was last written (finished groups), and resume still works.
      rmSync(tmp, { force: true });
    }
  }
}

/**
 * How a caller stops a run. `signal`: stop after the current batch, candidate
 * or probe; the run is recorded interrupted (resumable where its command
 * resumes) and its function throws an InterruptedError. `stopNow`: the caller
 * is about to end the process at once; the run is recorded interrupted
 * synchronously, with what it finished. Each abort's reason, when a string,
 * names the cause in the record ("stopped by SIGINT"). The library installs
 * no signal handler; the CLI maps SIGINT, SIGTERM and SIGHUP to these.
 */
export interface StopSignals {
  signal?: AbortSignal;
  stopNow?: AbortSignal;
}

/** What stopped a run, for its record: the abort's reason when it is a string (the CLI's signal name), else "the caller". */
export function stopReason(signal: AbortSignal | undefined): string {
  return typeof signal?.reason === 'string' ? signal.reason : 'the caller';
}

/** Records `run` interrupted synchronously when `stopNow` is aborted, until the returned function removes the listener. */
export function onStopNow(run: Run, stopNow: AbortSignal | undefined): () => void {
  if (stopNow === undefined) return () => {};
  const record = () => run.finishNow('interrupted', `stopped by ${stopReason(stopNow)}`);
  if (stopNow.aborted) record();
  stopNow.addEventListener('abort', record, { once: true });
  return () => stopNow.removeEventListener('abort', record);
}

/** A run id is a plain folder name under the runs folder: `show ../../etc` or an absolute path must not reach outside it. */
export function isRunId(id: unknown): id is string {
  return typeof id === 'string' && /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(id) && !id.includes('..');
}

export function checkRunId(id: unknown): asserts id is string {
  if (!isRunId(id)) {
    throw new RunError(`"${String(id)}" is not a run id (a run id is a folder name, as \`autoprune runs\` lists them: no path separators, no "..")`);
  }
}

/** File-system faults that are the machine's, not a bug: they get one line naming the file, not a stack trace. */
const WRITE_FAULTS: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is used up',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'the file system is read-only',
};

/** `cannot write FILE: no space left on the device`, for a write fault; undefined for anything else. */
export function describeWriteFault(err: unknown): string | undefined {
  const { code, path, syscall } = (err ?? {}) as NodeJS.ErrnoException;
  const why = code === undefined ? undefined : WRITE_FAULTS[code];
  if (why === undefined) return undefined;
  return `cannot ${syscall === 'open' || syscall === 'write' || syscall === undefined ? 'write' : syscall} ${path ?? 'a file'}: ${why} (${code})`;
}

/** Marks the run failed with `err`'s message; a record that cannot be written (a full disk) is added to the message, not put in its place. */
export async function recordFailure(run: Run, err: unknown): Promise<void> {
  const fault = describeWriteFault(err);
  if (fault !== undefined && err instanceof Error) {
    const resumable = run.record.command === 'prune' || run.record.command === 'compare';
    err.message = `${fault}; ${resumable ? `every finished step is kept: free the space or fix the permission, then \`autoprune resume ${run.id}\`` : `run ${run.id} failed`}`;
  }
  try {
    await run.finish('failed', (err as Error).message);
  } catch (writeError) {
    if (err instanceof Error)
      err.message += `; the run record could not be updated either (${(writeError as NodeJS.ErrnoException).code ?? (writeError as Error).message})`;
  }
}

/**
 * Runs `body` for `run` and records how it ends: a stop the caller asked for
 * (an InterruptedError once `stops.signal` is aborted) as interrupted,
 * "stopped by <reason>", an error as failed with its message; both are
 * thrown on. `stops.stopNow` records it interrupted at once.
 */
export async function guardRun<T>(run: Run, stops: StopSignals, body: () => Promise<T>): Promise<T> {
  const removeListener = onStopNow(run, stops.stopNow);
  try {
    return await body();
  } catch (err) {
    if (err instanceof InterruptedError) await run.finish('interrupted', `stopped by ${stopReason(stops.signal)}`);
    else await recordFailure(run, err);
    throw err;
  } finally {
    removeListener();
  }
}

/**
 * Before `resume` takes a run over: it must not have finished (a compare
 * whose methods failed has not: resume runs them again), nor be running in
 * another process, and it goes on with the backend it ran on.
 */
export function checkResumable(record: RunRecord, backend: string): void {
  if (record.status === 'done' && !hasFailedMethods(record)) throw new RunError(`run "${record.id}" has already finished`);
  if (effectiveStatus(record) === 'running')
    throw new RunError(`run "${record.id}" is still running (process ${record.pid}); stop it first (Ctrl-C, or kill ${record.pid}), then resume`);
  // Kernels differ in their last bits between backends, so the decisions left to make would differ from an uninterrupted run's.
  if (record.backend !== backend)
    throw new RunError(`run "${record.id}" ran on the ${record.backend} backend; resume it there (--backend ${record.backend}), not on ${backend}`);
}

/** Whether `record` is a compare with a failed method's row (its job killed, a fault). */
export function hasFailedMethods(record: RunRecord): boolean {
  const rows = (record.result as { rows?: { status?: unknown }[] } | undefined)?.rows;
  return record.command === 'compare' && Array.isArray(rows) && rows.some((row) => row?.status === 'failed');
}

/** A run's status as a user should read it: "running" whose process has gone is "crashed". */
export function effectiveStatus(record: RunRecord): RunStatus | 'crashed' {
  if (record.status !== 'running' || record.pid === undefined) return record.status;
  return processAlive(record.pid, record.pidStart) ? 'running' : 'crashed';
}

/** Whether process `pid` is alive and, given its start time, is still the process that had that pid (not a later one given the same pid). */
function processAlive(pid: number, pidStart: string | undefined): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  return pidStart === undefined || processStart(pid) === pidStart;
}

export interface UnreadableRun {
  id: string;
  reason: string;
}

/** The run records under `runsDir`, oldest first, and the folders whose record cannot be read, with why. */
export function listRuns(runsDir: string): { records: RunRecord[]; unreadable: UnreadableRun[] } {
  if (!existsSync(runsDir)) return { records: [], unreadable: [] };
  if (!statSync(runsDir).isDirectory()) throw new RunError(`runs folder ${resolve(runsDir)}: is a file, not a folder`);
  const records: RunRecord[] = [];
  const unreadable: UnreadableRun[] = [];
  for (const id of readdirSync(runsDir)) {
    const file = join(runsDir, id, RECORD_FILE);
    if (!existsSync(file)) continue;
    try {
      records.push(readRunRecord(file));
    } catch (err) {
      unreadable.push({ id, reason: (err as Error).message.replace(`${file}: `, '') });
    }
  }
  return { records: records.sort((a, b) => a.createdAt.localeCompare(b.createdAt)), unreadable };
}
