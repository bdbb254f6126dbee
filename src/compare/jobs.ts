/**
 * A compare's methods as jobs, each in a worker process of its own: what a
 * job is (CompareJob, plain JSON, what a queue would carry), what it reports
 * (JobEvent), and `compare --jobs` running them a few at a time. The worker
 * process is job-process.ts; what it runs, job-runner.ts.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { wasmThreadsPerProcess } from '../backend/backend.js';
import { type CompareResults, type CompareRunResult, type Method, type ResultRow, statusText } from '../run/compare-results.js';
import type { PruneConfig } from '../run/config.js';
import type { RunLog } from '../run/log.js';
import { listRuns, type RunRecord, type StopSignals } from '../run/records.js';
import { stopRequested } from '../train/train.js';
import { InterruptedError } from '../errors.js';
import { plural } from '../text.js';

interface JobPlace {
  /** Where the job's own compare run is written (a compare's <run>/jobs). */
  runsDir: string;
  /** The TensorFlow.js backend to run on, and the wasm backend's kernel threads. */
  backend: string;
  threads: number;
}

/** A compare's method to run, or a job of an earlier attempt to continue (the agent's, from its last finished group). */
export type CompareJob =
  | (JobPlace & {
      kind: 'method';
      method: Method;
      /** The compare's config, its baseline's model.json as `model`; its `workers` are the job's scoring workers. */
      config: PruneConfig;
      /** Cap on the bisection probes of each tolerance search. */
      probes: number;
    })
  | (JobPlace & { kind: 'resume'; runId: string });

/** What a job reports while it runs, and how it ended. */
export type JobEvent =
  | { type: 'line'; text: string }
  | { type: 'status'; text: string }
  /** Its run is done: the method's row (a failed row when the method failed). */
  | { type: 'finished'; runId: string; row: ResultRow }
  /** Stopped on request; its run recorded what finished. */
  | { type: 'stopped'; message: string }
  /** It could not run: a bad input (one line), or a fault. */
  | { type: 'failed'; error: string };

/** What a job's process is told once it runs: stop after the current batch, candidate or probe; or record at once and quit. */
export type JobCommand = { type: 'stop'; reason: string } | { type: 'stop-now'; reason: string };

/** The worker process, from src/compare/ or from the built dist/src/compare/; run from TypeScript sources, it loads them with this package's tsx. */
const FROM_SOURCES = new URL(import.meta.url).pathname.endsWith('.ts');
const JOB_PROCESS = fileURLToPath(new URL(`./job-process.${FROM_SOURCES ? 'ts' : 'js'}`, import.meta.url));

/** Starts a worker process running `job`; its events go to `onEvent`, anything it prints to stdout or stderr to `onOutput`, line by line. */
export function startJobProcess(job: CompareJob, onEvent: (event: JobEvent) => void, onOutput: (line: string) => void): ChildProcess {
  // Its own process group: a terminal's Ctrl-C reaches only the compare, which passes the stop on (JobCommand).
  const child = fork(JOB_PROCESS, [], {
    execArgv: FROM_SOURCES ? ['--import', import.meta.resolve('tsx')] : [],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    detached: true,
  });
  child.on('message', (event: JobEvent) => onEvent(event));
  for (const stream of [child.stdout!, child.stderr!]) createInterface({ input: stream }).on('line', onOutput);
  child.send(job);
  return child;
}

/** How a job's process ended: with its row, with a failure it reported, or neither (how the process ended, and the last line it printed). */
export type JobEnding = { kind: 'finished'; row: ResultRow } | { kind: 'failed'; error: string } | { kind: 'ended'; why: string; lastLine: string };

/**
 * Starts `job` in a worker process (startJobProcess): the lines it reports or
 * prints go to `onLine`, its statuses to `onStatus`; `ending` resolves once
 * the process has closed. What `compare --jobs` and a queue worker both run.
 */
export function runJobProcess(
  job: CompareJob,
  onLine: (text: string) => void,
  onStatus: (text: string) => void,
): { child: ChildProcess; ending: Promise<JobEnding> } {
  let finished: ResultRow | undefined;
  let failure: string | undefined;
  let lastLine = '';
  const child = startJobProcess(
    job,
    (event) => {
      if (event.type === 'line') {
        lastLine = event.text;
        onLine(event.text);
      } else if (event.type === 'status') onStatus(event.text);
      else if (event.type === 'finished') finished = event.row;
      else if (event.type === 'failed') failure = event.error;
    },
    (line) => {
      lastLine = line.trim() || lastLine;
      onLine(line);
    },
  );
  child.on('error', (err) => (lastLine = err.message));
  const ending = new Promise<JobEnding>((resolve) =>
    child.on('close', (code, signal) => {
      if (finished !== undefined) resolve({ kind: 'finished', row: finished });
      else if (failure !== undefined) resolve({ kind: 'failed', error: failure });
      else resolve({ kind: 'ended', why: signal !== null ? `stopped by ${signal}` : `exit ${code}`, lastLine });
    }),
  );
  return { child, ending };
}

export interface JobsOptions {
  methods: Method[];
  jobs: number;
  probes: number;
  /** The compare's config (its baseline in `source`). */
  config: PruneConfig;
  source: string;
  runDir: string;
  backend: string;
  log: RunLog;
  stops: StopSignals;
}

/**
 * Runs each method as a job in a worker process, `jobs` at a time, from the
 * same config and baseline file. Their runs live in <run>/jobs/; each
 * finished row is recorded as it arrives. A process that crashes gives a
 * failed row; a stop is passed on to the jobs still running, which record
 * what they finished.
 */
export async function runInJobs(
  { methods, jobs, probes, config, source, runDir, backend, log, stops }: JobsOptions,
  record: (row: ResultRow) => Promise<void>,
): Promise<void> {
  const jobsDir = join(runDir, 'jobs');
  mkdirSync(jobsDir, { recursive: true });
  const threads = wasmThreadsPerProcess(jobs);
  log.line(`${plural(methods.length, 'method')}, ${jobs} at a time, ${plural(threads, 'wasm thread')} each; their runs: ${jobsDir}`);
  // A stop is passed to each job once (it keeps what it finished and records itself interrupted) and starts no more; a stop now is passed again (each records itself and quits at once).
  const running = new Set<ChildProcess>();
  const told = new WeakSet<ChildProcess>();
  const stopping = stopRequested(stops.signal);
  const tell = (child: ChildProcess, command: JobCommand) => {
    if (child.connected) child.send(command);
  };
  const stopJobs = (command: JobCommand) => {
    for (const child of running) {
      if (command.type === 'stop' && told.has(child)) continue;
      told.add(child);
      tell(child, command);
    }
  };
  const onStop = () => stopJobs({ type: 'stop', reason: reasonOf(stops.signal) });
  const onStopNow = () => stopJobs({ type: 'stop-now', reason: reasonOf(stops.stopNow) });
  stops.signal?.addEventListener('abort', onStop, { once: true });
  stops.stopNow?.addEventListener('abort', onStopNow, { once: true });

  const runOne = async (method: Method): Promise<ResultRow> => {
    const started = performance.now();
    // The agent's job of an earlier attempt: its row if it finished, else it continues where it stopped.
    const earlier = method === 'rl' ? earlierAgentJob(jobsDir) : undefined;
    const earlierRow = earlier?.status === 'done' ? jobRow(jobsDir, earlier.id, method) : undefined;
    // A finished agent job is its row; one whose agent failed is resumed like an interrupted one.
    if (earlierRow !== undefined && earlierRow.status !== 'failed') return earlierRow;
    const place = { runsDir: jobsDir, backend, threads };
    // The cores are split between the jobs: the agent's scoring workers too.
    const job: CompareJob =
      earlier !== undefined
        ? { kind: 'resume', runId: earlier.id, ...place }
        : { kind: 'method', method, config: { ...config, model: source, workers: threads }, probes, ...place };
    const { child, ending } = runJobProcess(
      job,
      (text) => log.line(`[${method}] ${text}`),
      (text) => log.status(`[${method}] ${text}`),
    );
    running.add(child);
    // Stopped while it started: it is told as the others were.
    if (stopping()) onStop();
    log.line(`== ${method} (pid ${child.pid})`);
    const end = await ending;
    running.delete(child);
    if (end.kind === 'finished') return end.row;
    const seconds = (performance.now() - started) / 1000;
    return { method, status: 'failed', error: end.kind === 'failed' ? end.error : `its process ended (${end.why}): ${end.lastLine}`, seconds };
  };

  const queue = [...methods];
  const worker = async () => {
    for (let method = queue.shift(); method !== undefined && !stopping(); method = queue.shift()) {
      const row = await runOne(method);
      if (stopping()) return; // stopped: a method cut short is not a result
      if (row.status !== 'done') log.line(`${method} ${statusText(row)}: ${row.error}`);
      await record(row);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(jobs, queue.length) }, worker));
  } finally {
    stops.signal?.removeEventListener('abort', onStop);
    stops.stopNow?.removeEventListener('abort', onStopNow);
  }
  if (stopping()) throw new InterruptedError('stopped with its jobs');
}

/** What a stop says it was (a signal's name, "a second SIGINT"), passed on to the jobs; "the compare" when it says nothing. */
const reasonOf = (signal: AbortSignal | undefined) => (typeof signal?.reason === 'string' ? signal.reason : 'the compare');

/** The latest one-method compare of the agent under `jobsDir` whose agent run had started, if any (resume has checked that none is running). */
export function earlierAgentJob(jobsDir: string): RunRecord | undefined {
  return listRuns(jobsDir)
    .records.filter((r) => r.command === 'compare' && JSON.stringify(r.config.methods) === '["rl"]' && (r.result as CompareRunResult).agentRun !== undefined)
    .sort((a, b) => a.id.localeCompare(b.id))
    .pop();
}

/** A one-method job's row, from its results.json. */
export function jobRow(jobsDir: string, jobId: string, method: Method): ResultRow | undefined {
  const resultsPath = join(jobsDir, jobId, 'results.json');
  if (!existsSync(resultsPath)) return undefined;
  return (JSON.parse(readFileSync(resultsPath, 'utf8')) as CompareResults).rows.find((r) => r.method === method);
}
