/**
 * The library entry point a compare's job runs (jobs.ts): one method of a
 * compare, or an earlier job continued, as a one-method compare of its own,
 * reporting typed events. A worker process (job-process.ts) runs it for
 * `compare --jobs`; a program can run it in its own process as well.
 */
import { describeBackend, selectBackend } from '../backend/backend.js';
import type { Method, ResultRow } from '../run/compare-results.js';
import { parsePruneConfig } from '../run/config.js';
import { lineView } from '../run/event-lines.js';
import type { RunLog } from '../run/log.js';
import type { StopSignals } from '../run/records.js';
import { compare, resumeCompare } from './compare.js';
import { type CompareJob, type JobEvent, jobRow } from './jobs.js';

/**
 * Runs `job` in this process: its progress and the agent's run as line
 * events, then a `finished` event with its row, which it resolves with.
 * Throws as `compare` does: an InterruptedError when `stops` stopped it
 * (its run recorded what finished), a UserError for bad input.
 */
export async function runJob(job: CompareJob, onEvent: (event: JobEvent) => void, stops: StopSignals = {}): Promise<ResultRow> {
  const log: RunLog = { line: (text) => onEvent({ type: 'line', text }), status: (text) => onEvent({ type: 'status', text }) };
  const backend = await selectBackend(job.backend, { threads: job.threads });
  log.line(`backend: ${describeBackend(backend)}`);
  const context = { runsDir: job.runsDir, backend, log, onEvent: () => {}, ...stops };
  const presentAgent = async () => lineView(log);
  const run =
    job.kind === 'resume'
      ? await resumeCompare(job.runId, { presentAgent }, context)
      : await compare(
          {
            config: parsePruneConfig(job.config, `the ${job.method} job's config`),
            methods: [job.method],
            runsDir: job.runsDir,
            probes: job.probes,
            jobs: 1,
            estimate: false,
            presentAgent,
          },
          context,
        );
  const method = job.kind === 'resume' ? (run.record.config.methods as Method[] | undefined)?.[0] : job.method;
  const row = method === undefined ? undefined : jobRow(job.runsDir, run.id, method);
  if (row === undefined) throw new Error(`job run ${run.id} ended without a row in its results.json`);
  onEvent({ type: 'finished', runId: run.id, row });
  return row;
}
