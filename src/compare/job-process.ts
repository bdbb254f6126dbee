/**
 * The worker process of a compare's job (started by jobs.ts): its first
 * message is a CompareJob, which it runs (job-runner.ts) and reports on as
 * JobEvents; later messages are JobCommands. If its compare goes away (the
 * channel closes), it stops after the current step as if told to.
 */
import { InterruptedError, UserError } from '../errors.js';
import { describeWriteFault } from '../run/records.js';
import { runJob } from './job-runner.js';
import type { CompareJob, JobCommand, JobEvent } from './jobs.js';

/** Progress statuses sent at most this often: the compare shows one every few seconds. */
const STATUS_INTERVAL_MS = 1000;

const stop = new AbortController();
const now = new AbortController();
let lastStatusAt = 0;

function send(event: JobEvent): void {
  if (event.type === 'status') {
    if (performance.now() - lastStatusAt < STATUS_INTERVAL_MS) return;
    lastStatusAt = performance.now();
  }
  if (process.connected) process.send!(event);
}

function stopAfterStep(reason: string): void {
  if (stop.signal.aborted) return;
  send({ type: 'line', text: `interrupted (${reason}): stopping after the current batch, candidate or probe; what finished is kept` });
  stop.abort(reason);
}

async function start(job: CompareJob): Promise<void> {
  try {
    await runJob(job, send, { signal: stop.signal, stopNow: now.signal });
  } catch (err) {
    process.exitCode = 1;
    if (err instanceof InterruptedError) send({ type: 'stopped', message: err.message });
    else if (err instanceof UserError) send({ type: 'failed', error: err.message });
    else {
      const fault = describeWriteFault(err);
      // A bug, not bad input: its stack goes to the log, the row gets one line.
      if (fault === undefined) send({ type: 'line', text: `unexpected error: ${(err as Error).stack ?? String(err)}` });
      send({ type: 'failed', error: fault ?? `unexpected error: ${String((err as Error).message ?? err).split('\n')[0]}` });
    }
  }
  if (process.connected) process.disconnect();
}

process.on('message', (message: CompareJob | JobCommand) => {
  if ('kind' in message) void start(message);
  else if (message.type === 'stop') stopAfterStep(message.reason);
  else {
    // The run records itself (synchronously) as it listens; then nothing is left to wait for.
    now.abort(message.reason);
    process.exit(1);
  }
});
process.on('disconnect', () => stopAfterStep('its compare ended'));
