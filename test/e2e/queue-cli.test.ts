/** compare --queue and autoprune worker on a real redis-server (Debian's), two worker processes: the rows a local compare gets; a bad job fails once. */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Queue, QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type QueuedJob, QUEUE_NAME, redisConnection } from '../../src/compare/queue.js';
import { parsePruneConfig, readConfigFile } from '../../src/run/config.js';
import { dataDigest } from '../../src/data/load.js';
import { modelDigest } from '../../src/models/io.js';
import type { ResultRow } from '../../src/run/compare-results.js';
import { autoprune, rowOutcome, runUntil, trainTinyBaseline } from '../cli-helpers.js';
import { tempDir } from '../helpers.js';

/** A port nothing listens on. */
const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

/** The CLI run without blocking the test (workers log meanwhile); resolves with its output. */
const autopruneAsync = (args: string[]) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn('node', ['bin/autoprune.mjs', '--no-tui', ...args]);
    let [stdout, stderr] = ['', ''];
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });

describe('autoprune compare --queue with autoprune worker', () => {
  const runsDir = tempDir();
  const configPath = join(runsDir, 'tiny.json');
  const common = ['--runs-dir', runsDir];
  let redis: ChildProcess;
  let port = 0;
  let url = '';
  /** Rows of the l1 and random compare on this machine, which every queued one must give. */
  let localRows: ReturnType<typeof rowOutcome>[] = [];
  // Redis keeps its data in an append-only file, written before each command returns: a restarted Redis has every job as it was.
  const redisDir = tempDir();
  const startRedis = async () => {
    const server = spawn('redis-server', [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      redisDir,
      '--save',
      '',
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
    ]);
    await new Promise<void>((ready) => server.stdout!.on('data', (d) => /Ready to accept connections/.test(String(d)) && ready()));
    return server;
  };
  const rows = (id: string) => (JSON.parse(readFileSync(join(runsDir, id, 'results.json'), 'utf8')).rows as ResultRow[]).map(rowOutcome);
  const workers: { process: ChildProcess; log: string }[] = [];

  beforeAll(async () => {
    trainTinyBaseline(runsDir, configPath);
    port = await freePort();
    redis = await startRedis();
    url = `redis://127.0.0.1:${port}`;
    for (let i = 0; i < 2; i++) {
      // A short lock: a killed worker's job goes to the other within seconds.
      // One wasm thread per job: the two workers share this machine's cores.
      const worker = { process: spawn('node', ['bin/autoprune.mjs', '--no-tui', '--threads', '1', 'worker', '--queue', url, '--lock-seconds', '5']), log: '' };
      worker.process.stderr!.on('data', (d) => (worker.log += d));
      workers.push(worker);
    }
  }, 180_000);

  afterAll(async () => {
    for (const { process: worker } of workers) worker.kill('SIGKILL');
    redis?.kill('SIGKILL');
  });

  it("runs a compare's methods as jobs on two workers and gets the rows a compare on this machine gets", async () => {
    const args = [...common, 'compare', '--config', configPath, '--methods', 'l1,random', '--probes', '1', '--no-estimate'];
    const queued = await autopruneAsync([...args, '--queue', url]);
    expect(queued.code, queued.stderr).toBe(0);
    expect(queued.stderr).toMatch(/== l1 \(job \d+ on redis:\/\/127\.0\.0\.1:\d+\)/);
    expect(queued.stderr).toMatch(/\[random\] .*probe 1/); // the jobs' lines reach the compare
    const here = autoprune(args);
    expect(here.status, here.stderr).toBe(0);
    localRows = rows(here.stdout.trim());
    expect(rows(queued.stdout.trim())).toEqual(localRows);
    expect(rows(queued.stdout.trim()).map((r) => r.status)).toEqual(['done', 'done']);
    // Both jobs were taken by the workers, each finished once.
    const taken = workers.flatMap(({ log }) => [...log.matchAll(/: (l1|random) \(job \d+\) finished/g)].map((m) => m[1]));
    expect(taken.sort()).toEqual(['l1', 'random']);
    for (const { log } of workers) expect(log).toMatch(/up to 1 job at once, 1 wasm thread each/);
    expect(queued.stderr).toMatch(/\[(l1|random)\] backend: wasm \(.*1 kernel thread\)/);
  }, 600_000);

  it("hands the job of a worker killed mid-run (SIGKILL) to the other, whose agent continues the killed one's run from its last finished group", async () => {
    const killTaker = () => {
      const taker = workers.find(({ log }) => /: rl \(job \d+, attempt 1\)/.test(log))!;
      taker.process.kill('SIGKILL');
    };
    const run = await runUntil(
      [...common, 'compare', '--config', configPath, '--methods', 'rl', '--no-estimate', '--queue', url],
      /\[rl\] group 1 \(conv2\)/,
      [],
      killTaker,
    );
    expect(run.code, run.stderr).toBe(0);
    const agentRun = /\[rl\] run: .*\/([^/\s]+prune[^/\s]+)\n/.exec(run.stderr)![1];
    const other = workers.find(({ process: worker }) => worker.exitCode === null && worker.signalCode === null)!;
    expect(other.log).toMatch(/: rl \(job \d+, attempt 2\), continuing \S+/);
    expect(run.stderr).toMatch(/\[rl\] resuming .*\(1 group finished\)/);
    const [row] = JSON.parse(readFileSync(join(runsDir, run.stdout.trim(), 'results.json'), 'utf8')).rows;
    expect([row.method, row.status, row.runId]).toEqual(['rl', 'done', agentRun]);
  }, 600_000);

  it('Ctrl-C on a queued compare removes the jobs no worker took and stops the running one, which is not retried', async () => {
    // Three methods, more than the workers left: at least one waits.
    const run = await runUntil(
      [...common, 'compare', '--config', configPath, '--methods', 'l1,l2,random', '--probes', '2', '--no-estimate', '--queue', url],
      /\[(l1|l2|random)\] .*probe 1/,
      'SIGINT',
    );
    expect(run.code, run.stderr).toBe(130);
    const ids = [...run.stderr.matchAll(/== \S+ \(job (\d+) on/g)].map((m) => m[1]);
    expect(ids).toHaveLength(3);
    const queue = new Queue<QueuedJob, ResultRow>(QUEUE_NAME, { connection: redisConnection(url) });
    const states = async () => Promise.all(ids.map((id) => queue.getJobState(id)));
    for (let waited = 0; waited < 120_000 && (await states()).includes('active'); waited += 1000) await new Promise((done) => setTimeout(done, 1000));
    // Each job was removed before a worker took it, or stopped where it ran and not retried.
    const final = await states();
    expect(final.every((state) => state === 'unknown' || state === 'failed')).toBe(true);
    expect(final.filter((state) => state === 'unknown').length).toBeGreaterThanOrEqual(1);
    for (const [i, id] of ids.entries()) {
      if (final[i] !== 'failed') continue;
      const stopped = await queue.getJob(id);
      expect([stopped!.failedReason, stopped!.attemptsMade]).toEqual(['stopped by its compare', 1]);
    }
    await queue.close();
  }, 300_000);

  it('fails a job with a bad input (a baseline or data set missing or not the same, a bad config) once, in one line, and refuses a bad queue address before anything runs', async () => {
    const connection = redisConnection(url);
    const queue = new Queue<QueuedJob, ResultRow>(QUEUE_NAME, { connection });
    const events = new QueueEvents(QUEUE_NAME, { connection });
    await events.waitUntilReady();
    // A baseline no worker has, one whose copy differs from the compare's, and a config the job refuses: each fails once, in one line.
    const model = join(runsDir, 'no-such-model', 'model.json');
    const config = parsePruneConfig({ ...readConfigFile(configPath), model }, configPath);
    const job = { kind: 'method' as const, method: 'l1' as const, config, probes: 2, runsDir: tempDir(), backend: 'wasm' };
    const shipped = 'src/models/pretrained/lenet5-mnist/model.json';
    const mnist = { source: { dataset: config.dataset }, sha256: dataDigest({ dataset: config.dataset }) };
    const right = { path: shipped, sha256: modelDigest(shipped) };
    const shippedJob = { ...job, config: { ...config, model: shipped } };
    const cases: [QueuedJob, RegExp][] = [
      [
        { job, method: 'l1', compare: 'test', baseline: { path: model, sha256: 'a'.repeat(64) }, dataset: mnist },
        /^\S+ has no .*no-such-model\/model\.json: every worker must see/,
      ],
      [
        { job, method: 'l1', compare: 'test', baseline: { path: shipped, sha256: 'a'.repeat(64) }, dataset: mnist },
        /^\S+'s .*lenet5-mnist\/model\.json is not the compare's baseline/,
      ],
      [
        {
          job: shippedJob,
          method: 'l1',
          compare: 'test',
          baseline: right,
          dataset: { source: { dataset: 'mnist', dataDir: '/no/such/dir' }, sha256: mnist.sha256 },
        },
        /^\S+ lacks the compare's data: mnist: data folder \/no\/such\/dir does not exist$/,
      ],
      [
        { job: shippedJob, method: 'l1', compare: 'test', baseline: right, dataset: { ...mnist, sha256: 'a'.repeat(64) } },
        /^\S+'s copy of mnist is not the compare's data \(its SHA-256 differs\)$/,
      ],
      [
        { job: { ...job, config: { ...config, model: shipped, tolerance: -1 } }, method: 'l1', compare: 'test', baseline: right, dataset: mnist },
        /tolerance: Too small/,
      ],
    ];
    for (const [data, reason] of cases) {
      const added = await queue.add('l1', data, { attempts: 3 });
      await expect(added.waitUntilFinished(events)).rejects.toThrow(reason);
      const failed = await queue.getJob(added.id!);
      expect(failed!.attemptsMade).toBe(1);
      expect(failed!.failedReason.split('\n')).toHaveLength(1);
    }
    await events.close();
    await queue.close();
    const refused = autoprune([...common, 'compare', '--config', configPath, '--methods', 'l1', '--queue', 'http://127.0.0.1:1']);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toBe('autoprune: --queue: "http://127.0.0.1:1" is not a redis://HOST:PORT address\n');
  }, 300_000);

  it('loses no finished result when Redis restarts mid-compare with its data: the compare and the worker reconnect, and every row arrives', async () => {
    // One worker is left (the other was killed): l1 has finished once random's lines arrive; Redis restarts while random runs.
    let restarted: Promise<void> | undefined;
    const run = await runUntil(
      [...common, 'compare', '--config', configPath, '--methods', 'l1,random', '--probes', '1', '--no-estimate', '--queue', url],
      /\[random\] /,
      [],
      () => {
        restarted = (async () => {
          redis.kill('SIGTERM');
          await once(redis, 'exit');
          redis = await startRedis();
        })();
      },
    );
    await restarted;
    expect(run.code, run.stderr).toBe(0);
    expect(rows(run.stdout.trim())).toEqual(localRows);
  }, 600_000);
});
