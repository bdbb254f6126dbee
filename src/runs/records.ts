/**
 * Run records: every command that produces results writes `runs/<run-id>/`
 * holding a lowdb JSON record (written atomically by lowdb's steno writer)
 * next to the artefacts (models, checkpoints, reports).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Low } from 'lowdb';
import { JSONFile } from 'lowdb/node';

export type RunStatus = 'running' | 'done' | 'failed' | 'interrupted';

export interface RunRecord {
  id: string;
  /** The CLI command that created the run, e.g. "train". */
  command: string;
  status: RunStatus;
  createdAt: string;
  updatedAt: string;
  /** Everything needed to repeat the run: resolved options, seed, data set, model. */
  config: Record<string, unknown>;
  /** The TensorFlow.js backend the numbers were measured on. */
  backend: string;
  /** Command-specific results (accuracies, timings, metrics); filled as the run progresses. */
  result: Record<string, unknown>;
  error?: string;
  /** Process that last ran it: a "running" run whose process is gone has crashed. */
  pid?: number;
  /** That process's start time (Linux clock ticks since boot), so a later process reusing the pid is not taken for it. */
  pidStart?: string;
}

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

export class RunError extends Error {}

export function newRunId(command: string, label: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${stamp}-${command}-${label}-${randomBytes(2).toString('hex')}`;
}

export class Run {
  private constructor(
    readonly dir: string,
    private readonly db: Low<RunRecord>,
  ) {}

  get record(): RunRecord {
    return this.db.data;
  }

  get id(): string {
    return this.db.data.id;
  }

  /** Creates `runsDir/<id>/` and its record with status "running". */
  static async create(runsDir: string, init: Pick<RunRecord, 'command' | 'config' | 'backend'> & { label: string }): Promise<Run> {
    const id = newRunId(init.command, init.label);
    const dir = resolve(runsDir, id);
    mkdirSync(dir, { recursive: true });
    const now = new Date().toISOString();
    const record: RunRecord = { id, command: init.command, status: 'running', createdAt: now, updatedAt: now, config: init.config, backend: init.backend, result: {}, ...thisProcess() };
    const db = new Low<RunRecord>(new JSONFile(join(dir, RECORD_FILE)), record);
    await db.write();
    return new Run(dir, db);
  }

  static async open(runsDir: string, id: string): Promise<Run> {
    const dir = resolve(runsDir, id);
    const file = join(dir, RECORD_FILE);
    if (!existsSync(file)) throw new RunError(`run "${id}" not found (no ${file})`);
    let data: RunRecord;
    try {
      data = JSON.parse(readFileSync(file, 'utf8')) as RunRecord;
    } catch (err) {
      throw new RunError(`${file}: unreadable run record (${(err as Error).message})`);
    }
    if (data === null || typeof data !== 'object' || typeof data.id !== 'string') throw new RunError(`${file}: not a run record`);
    return new Run(dir, new Low<RunRecord>(new JSONFile(file), data));
  }

  async update(change: (record: RunRecord) => void): Promise<void> {
    change(this.db.data);
    this.db.data.updatedAt = new Date().toISOString();
    await this.db.write();
  }

  async finish(status: Exclude<RunStatus, 'running'>, error?: string): Promise<void> {
    await this.update((r) => {
      r.status = status;
      if (error !== undefined) r.error = error;
    });
  }
}

/**
 * Runs `body` for a run that cannot stop half-way: Ctrl-C marks the run
 * interrupted and exits (130); an error marks it failed with the message.
 */
export async function guardRun<T>(run: Run, body: () => Promise<T>): Promise<T> {
  const onSignal = () => void run.finish('interrupted', 'stopped by SIGINT').finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  try {
    return await body();
  } catch (err) {
    await run.finish('failed', (err as Error).message);
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
  }
}

/** A run's status as a user should read it: "running" whose process has gone is "crashed". */
export function effectiveStatus(record: RunRecord): RunStatus | 'crashed' {
  if (record.status !== 'running' || record.pid === undefined) return record.status;
  try {
    process.kill(record.pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? 'running' : 'crashed';
  }
  // The pid is alive, but is it still the run's process, or a later one given the same pid?
  if (record.pidStart !== undefined && processStart(record.pid) !== record.pidStart) return 'crashed';
  return 'running';
}

/** Every readable run record under `runsDir`, oldest first (unreadable folders are skipped). */
export function listRuns(runsDir: string): RunRecord[] {
  if (!existsSync(runsDir)) return [];
  return readdirSync(runsDir)
    .map((id) => join(runsDir, id, RECORD_FILE))
    .filter((file) => existsSync(file))
    .flatMap((file) => {
      try {
        const record = JSON.parse(readFileSync(file, 'utf8')) as RunRecord;
        return typeof record.id === 'string' ? [record] : [];
      } catch {
        return [];
      }
    })
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}
