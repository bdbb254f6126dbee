/**
 * A compare's jobs on a BullMQ queue in Redis, for workers on several
 * machines: `compare --queue` enqueues one CompareJob per method and waits
 * for the rows; `autoprune worker --queue` takes jobs and runs each in a
 * worker process, as `compare --jobs` does (runJobProcess). The job's run
 * folder is the compare's <run>/jobs: a folder every machine sees at the
 * same path. BullMQ hands a job whose worker died (its lock expired) to
 * another worker; an agent job retried so continues its earlier attempt's
 * run from the last finished group. A bad input fails its job once.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Queue, QueueEvents, UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { wasmThreadsPerProcess } from '../backend/backend.js';
import { type DataSource, dataDigest, dataLabel } from '../data/load.js';
import { modelDigest } from '../models/io.js';
import type { Method, ResultRow } from '../run/compare-results.js';
import type { RunLog } from '../run/log.js';
import type { StopSignals } from '../run/records.js';
import { stopRequested } from '../train/train.js';
import { DataError, InterruptedError, UsageError } from '../errors.js';
import { plural } from '../text.js';
import { type CompareJob, earlierAgentJob, type JobCommand, type JobEvent, type JobsOptions, runJobProcess } from './jobs.js';

/** The queue every compare and worker on one Redis shares. */
export const QUEUE_NAME = 'autoprune-compare';

/** Attempts a job gets when it fails, and times it may be taken again after its worker died (a bad input fails at once). */
const ATTEMPTS = 3;

/** A job as the queue carries it: without its threads, which each worker sets from its own cores. */
type QueuedCompareJob = CompareJob extends infer J ? (J extends CompareJob ? Omit<J, 'threads'> : never) : never;

/** What a queued job carries: the job, the method and compare it is for (shown in each worker's log), and its baseline's digest. */
export interface QueuedJob {
  job: QueuedCompareJob;
  method: Method;
  compare: string;
  /** The baseline the job's config names (its model.json) and its SHA-256 (modelDigest): a worker whose copy differs, or that has none, refuses the job. */
  baseline: { path: string; sha256: string };
  /** The data the job's config names and its SHA-256 (dataDigest), checked the same way. */
  dataset: { source: DataSource; sha256: string };
}

/**
 * Why this machine cannot run `queued`, if it cannot: the baseline and the
 * data are found by path (a shared folder, or a copy at the same path), and
 * other files there (or none) would give other rows.
 */
function refusal({ baseline, dataset }: QueuedJob): string | undefined {
  const machine = hostname();
  const model = existsSync(baseline.path) ? modelDigest(baseline.path) : undefined;
  if (model === undefined) return `${machine} has no ${baseline.path}: every worker must see the compare's baseline at the same path (a shared folder)`;
  if (model !== baseline.sha256) return `${machine}'s ${baseline.path} is not the compare's baseline (its SHA-256 differs)`;
  let data: string;
  try {
    data = dataDigest(dataset.source);
  } catch (err) {
    if (err instanceof DataError) return `${machine} lacks the compare's data: ${err.message}`;
    throw err;
  }
  if (data !== dataset.sha256) return `${machine}'s copy of ${dataLabel(dataset.source)} is not the compare's data (its SHA-256 differs)`;
  return undefined;
}

/** A progress event a worker relays from its job: a line or a status, for the compare to show. */
type QueuedProgress = Extract<JobEvent, { type: 'line' | 'status' }>;

/** Where Redis is, as BullMQ and ioredis take it. */
export interface RedisAddress {
  host: string;
  port: number;
  db?: number;
  password?: string;
  maxRetriesPerRequest: null;
}

/** Redis's address from `redis://[:password@]host[:port][/db]`; a one-line error for anything else. */
export function redisConnection(url: string): RedisAddress {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`--queue: "${url}" is not a URL; give redis://HOST:PORT`);
  }
  if (parsed.protocol !== 'redis:' || parsed.hostname === '') throw new UsageError(`--queue: "${url}" is not a redis://HOST:PORT address`);
  const db = parsed.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d+$/.test(db)) throw new UsageError(`--queue: "${url}": the database after the port must be a number`);
  return {
    host: parsed.hostname,
    port: parsed.port === '' ? 6379 : Number(parsed.port),
    ...(db !== '' && { db: Number(db) }),
    ...(parsed.password !== '' && { password: decodeURIComponent(parsed.password) }),
    // BullMQ's workers block on Redis: they must not give up on a command.
    maxRetriesPerRequest: null,
  };
}

/** Connects once to Redis at `url`, or says in one line that it cannot (a wrong host or port would otherwise retry for ever). */
export async function checkReachable(url: string): Promise<void> {
  const client = new Redis({ ...redisConnection(url), lazyConnect: true, connectTimeout: 5000, retryStrategy: () => null });
  let cause: NodeJS.ErrnoException | undefined;
  client.on('error', (err: NodeJS.ErrnoException) => (cause ??= err)); // reported below
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    const why = cause ?? (err as NodeJS.ErrnoException);
    throw new UsageError(`--queue: cannot reach Redis at ${url} (${why.code ?? why.message})`);
  } finally {
    client.disconnect();
  }
}

/**
 * Enqueues each method as a job and records each row as it arrives; the
 * jobs' lines come through prefixed with the method. A stop removes the
 * jobs not yet taken and tells the running ones to stop after their step.
 */
export async function runInQueue(
  url: string,
  { methods, probes, config, source, runDir, backend, log, stops }: JobsOptions,
  record: (row: ResultRow) => Promise<void>,
): Promise<void> {
  const connection = redisConnection(url);
  await checkReachable(url);
  const jobsDir = join(runDir, 'jobs');
  mkdirSync(jobsDir, { recursive: true });
  const queue = new Queue<QueuedJob, ResultRow>(QUEUE_NAME, { connection });
  const events = new QueueEvents(QUEUE_NAME, { connection });
  const compare = runDir.split('/').pop()!;
  const stopping = stopRequested(stops.signal);
  try {
    await events.waitUntilReady();
    const enqueued = new Map<string, Method>();
    events.on('progress', ({ jobId, data }) => {
      const method = enqueued.get(jobId);
      const progress = data as QueuedProgress;
      if (method === undefined || typeof progress !== 'object' || progress === null) return;
      if (progress.type === 'line') log.line(`[${method}] ${progress.text}`);
      else if (progress.type === 'status') log.status(`[${method}] ${progress.text}`);
    });
    const jobs: Job<QueuedJob, ResultRow>[] = [];
    const baseline = { path: source, sha256: modelDigest(source) };
    const data: DataSource = {
      dataset: config.dataset,
      ...(config.data !== undefined && { data: config.data }),
      ...(config.dataDir !== undefined && { dataDir: config.dataDir }),
    };
    const dataset = { source: data, sha256: dataDigest(data) };
    for (const method of methods) {
      const place = { runsDir: jobsDir, backend };
      const earlier = method === 'rl' ? earlierAgentJob(jobsDir) : undefined;
      const job: QueuedCompareJob =
        earlier !== undefined
          ? { kind: 'resume', runId: earlier.id, ...place }
          : { kind: 'method', method, config: { ...config, model: source }, probes, ...place };
      const added = await queue.add(method, { job, method, compare, baseline, dataset }, { attempts: ATTEMPTS, removeOnComplete: false, removeOnFail: false });
      enqueued.set(added.id!, method);
      jobs.push(added);
      log.line(`== ${method} (job ${added.id} on ${url})`);
    }
    // Cancelling is finished before the queue's connection closes.
    let cancelling: Promise<void> | undefined;
    const onStop = () => {
      cancelling = cancelJobs(queue, jobs, connection, stops.signal?.reason);
    };
    if (stops.signal?.aborted) onStop();
    stops.signal?.addEventListener('abort', onStop, { once: true });
    try {
      await Promise.all(
        jobs.map(async (job) => {
          const method = job.data.method;
          const started = performance.now();
          const row = await outcomeOf(queue, job.id!, stopping).catch(
            (err: Error): ResultRow => ({ method, status: 'failed', error: err.message, seconds: (performance.now() - started) / 1000 }),
          );
          if (row === undefined || stopping()) return;
          if (row.status === 'failed') log.line(`${method} failed: ${row.error}`);
          await record(row);
        }),
      );
    } finally {
      stops.signal?.removeEventListener('abort', onStop);
      await cancelling;
    }
  } finally {
    await events.close();
    await queue.close();
  }
  if (stopping()) throw new InterruptedError('stopped with its queued jobs');
}

/** How often the compare asks Redis how its jobs stand. */
const POLL_MS = 2000;

/**
 * A job's row once it is done, asked of Redis every few seconds rather than
 * heard as an event: a Redis that restarts (its data kept) loses no finished
 * result, and the compare goes on where it was. Undefined when stopped first.
 */
async function outcomeOf(queue: Queue<QueuedJob, ResultRow>, id: string, stopping: () => boolean): Promise<ResultRow | undefined> {
  for (;;) {
    if (stopping()) return undefined;
    const state = await queue.getJobState(id);
    if (state === 'completed') return (await queue.getJob(id))!.returnvalue;
    if (state === 'failed') throw new Error((await queue.getJob(id))!.failedReason);
    if (state === 'unknown') throw new Error(`job ${id} is no longer in the queue (a Redis that restarted without its data?)`);
    await new Promise((wait) => setTimeout(wait, POLL_MS));
  }
}

/** The compare stopped: its jobs not yet taken leave the queue, the running ones are told to stop (a message on a Redis channel every worker listens to). */
async function cancelJobs(queue: Queue<QueuedJob, ResultRow>, jobs: Job<QueuedJob, ResultRow>[], connection: RedisAddress, reason: unknown): Promise<void> {
  for (const job of jobs) {
    const state = await queue.getJobState(job.id!);
    if (state === 'waiting' || state === 'delayed' || state === 'prioritized') await job.remove().catch(() => {});
  }
  const client = new Redis(connection);
  await client.publish(STOP_CHANNEL, JSON.stringify({ ids: jobs.map((j) => j.id), reason: typeof reason === 'string' ? reason : 'the compare' }));
  client.disconnect();
}

/** The Redis channel on which a compare tells workers to stop its running jobs. */
const STOP_CHANNEL = `${QUEUE_NAME}:stop`;

export interface WorkerOptions {
  /** Jobs this worker runs at once, each in its own process with cores / concurrency wasm threads. */
  concurrency: number;
  /** Each job's wasm threads instead (a machine this worker shares with others). */
  threads?: number;
  /** Seconds after which a job whose worker stopped answering (killed, cut off) is handed to another worker (BullMQ's lock; default 30). */
  lockSeconds?: number;
  log: RunLog;
  /** Stops taking jobs and stops the running ones after their step (they are left to be retried or resumed). */
  stops: StopSignals;
}

/**
 * Takes jobs from the queue at `url` until stopped, each run in a worker
 * process as `compare --jobs` runs it; its lines are relayed to the compare
 * as progress, its row returned as the job's result.
 */
export async function runQueueWorker(url: string, { concurrency, threads: jobThreads, lockSeconds = 30, log, stops }: WorkerOptions): Promise<void> {
  const connection = redisConnection(url);
  await checkReachable(url);
  const threads = jobThreads ?? wasmThreadsPerProcess(concurrency);
  const running = new Map<string, ChildProcess>();
  /** Jobs their compare stopped: not to be retried. */
  const cancelled = new Set<string>();
  const tell = (child: ChildProcess, command: JobCommand) => child.connected && child.send(command);
  const worker = new Worker<QueuedJob, ResultRow>(
    QUEUE_NAME,
    async (job) => {
      const { method, compare } = job.data;
      const why = refusal(job.data);
      if (why !== undefined) {
        log.line(`${compare}: ${method} (job ${job.id}) refused: ${why}`);
        throw new UnrecoverableError(why);
      }
      // A job retried after its worker died: an agent's continues its earlier attempt's run.
      const earlier = job.data.job.kind === 'method' && method === 'rl' ? earlierAgentJob(job.data.job.runsDir) : undefined;
      const queued = job.data.job;
      const planned: CompareJob =
        earlier !== undefined
          ? { kind: 'resume', runId: earlier.id, runsDir: queued.runsDir, backend: queued.backend, threads }
          : queued.kind === 'method'
            ? { ...queued, threads, config: { ...queued.config, workers: threads } }
            : { ...queued, threads };
      log.line(`${compare}: ${method} (job ${job.id}, attempt ${job.attemptsStarted})${earlier !== undefined ? `, continuing ${earlier.id}` : ''}`);
      // A line may arrive after the job has ended (its process's last words): relaying it then fails, and must not end the worker.
      const relay = (progress: QueuedProgress) => job.updateProgress(progress).catch(() => {});
      let lastStatusAt = 0;
      const { child, ending } = runJobProcess(
        planned,
        (text) => relay({ type: 'line', text }),
        (text) => {
          if (performance.now() - lastStatusAt < 5000) return;
          lastStatusAt = performance.now();
          relay({ type: 'status', text });
        },
      );
      running.set(job.id!, child);
      const end = await ending;
      running.delete(job.id!);
      log.line(
        `${compare}: ${method} (job ${job.id}) ${end.kind === 'finished' ? 'finished' : end.kind === 'failed' ? `failed: ${end.error}` : `ended (${end.why})`}`,
      );
      if (end.kind === 'finished') return end.row;
      // A bad input (or a fault the job reported) fails once: running it again would fail again; so does a job its compare stopped.
      if (end.kind === 'failed') throw new UnrecoverableError(end.error);
      if (cancelled.delete(job.id!)) throw new UnrecoverableError('stopped by its compare');
      // Anything else (the worker stopping, a crash) is left to be retried, by this worker or another.
      throw new Error(`its process ended (${end.why}): ${end.lastLine}`);
    },
    // The lock is renewed every lockDuration / 2 while the worker lives; one that expires marks the job stalled, and it goes back to the queue.
    { connection, concurrency, autorun: false, lockDuration: lockSeconds * 1000, stalledInterval: lockSeconds * 1000, maxStalledCount: ATTEMPTS - 1 },
  );
  // A compare that stops tells its running jobs here.
  const subscriber = new Redis(connection);
  await subscriber.subscribe(STOP_CHANNEL);
  subscriber.on('message', (_channel: string, message: string) => {
    const { ids, reason } = JSON.parse(message) as { ids: string[]; reason: string };
    for (const id of ids) {
      const child = running.get(id);
      if (child === undefined) continue;
      cancelled.add(id);
      tell(child, { type: 'stop', reason });
    }
  });
  worker.on('error', (err) => log.line(`queue: ${err.message}`));
  log.line(`worker on ${url}: up to ${plural(concurrency, 'job')} at once, ${plural(threads, 'wasm thread')} each`);
  const stopped = new Promise<void>((resolve) => {
    const stop = () => {
      for (const child of running.values())
        tell(child, { type: 'stop', reason: typeof stops.signal?.reason === 'string' ? stops.signal.reason : 'the worker' });
      resolve();
    };
    if (stops.signal?.aborted) stop();
    else stops.signal?.addEventListener('abort', stop, { once: true });
  });
  const working = worker.run();
  await stopped;
  // Waits for the running jobs to stop after their step; they are recorded interrupted, and BullMQ retries them elsewhere.
  await worker.close();
  await working;
  subscriber.disconnect();
}
