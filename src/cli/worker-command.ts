/** `autoprune worker`: takes a compare's jobs from a BullMQ queue in Redis and runs them (the queue itself is src/compare/queue.ts). */
import type { Command } from 'commander';
import { runQueueWorker } from '../compare/queue.js';
import { ProgressLog } from './log.js';
import { integerIn, queueAddress } from './options.js';
import { globalOptions } from './session.js';
import { stopOnSignals } from './stop.js';

/** worker: the options, then the worker until Ctrl-C. */
export function addWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description(
      'run the jobs of compares started with --queue on this machine, until stopped (Ctrl-C: the running jobs stop after their step and are retried elsewhere)',
    )
    .requiredOption('--queue <redis-url>', "the queue's Redis, redis://HOST:PORT (every worker and compare names the same one)", queueAddress)
    .option('--concurrency <n>', 'jobs at once, each in its own process with cores / N wasm threads (or --threads each)', integerIn(1, 64), 1)
    .option('--lock-seconds <n>', "seconds after which a job whose worker stopped answering goes to another worker (BullMQ's lock)", integerIn(1, 3600), 30)
    .action(async (opts: { queue: string; concurrency: number; lockSeconds: number }, command: Command) => {
      const log = new ProgressLog(process.stderr, false);
      const stops = stopOnSignals((line) => log.line(line));
      const { threads } = globalOptions(command);
      await runQueueWorker(opts.queue, { concurrency: opts.concurrency, threads, lockSeconds: opts.lockSeconds, log, stops });
    });
}
