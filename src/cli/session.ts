/** What every working command starts with: the global options, the progress log, the backend, and how a run's events are shown. */
import type { Command } from 'commander';
import { type BackendChoice, describeBackend, selectBackend } from '../backend/backend.js';
import type { CompareOptions } from '../compare/compare.js';
import type { CompareRunResult } from '../run/compare-results.js';
import type { RunContext } from '../run/prune-run.js';
import { checkRunsDir, type Run, type StopSignals } from '../run/records.js';
import { stopOnSignals } from './stop.js';
import { ProgressLog } from './log.js';
import { type Presenter, presenter } from './presenter.js';

/** The options before the command name. */
export interface GlobalOptions {
  backend?: string;
  threads?: number;
  runsDir: string;
  tui: boolean;
}

export interface Session {
  global: GlobalOptions;
  log: ProgressLog;
  backend: BackendChoice;
  /** Ctrl-C, SIGTERM and SIGHUP as the library's stop signals (stop.ts). */
  stops: Required<StopSignals>;
  /** Where a try-and-learn run's events go: JSON lines, the dashboard on a terminal, or plain lines. */
  present: (json: boolean) => Promise<Presenter>;
}

export const globalOptions = (command: Command) => command.optsWithGlobals() as GlobalOptions;

export async function setUp(command: Command): Promise<Session> {
  const global = globalOptions(command);
  checkRunsDir(global.runsDir);
  const dashboard = process.stderr.isTTY === true && global.tui;
  const log = new ProgressLog(process.stderr, dashboard);
  const backend = await selectBackend(global.backend, { threads: global.threads });
  log.line(`backend: ${describeBackend(backend)}`);
  const stops = stopOnSignals((line) => log.line(line));
  return { global, log, backend, stops, present: (json) => presenter({ json, dashboard }, log) };
}

/** A compare started (or resumed) by `start`, with the agent's run shown as prune shows it; prints the run id. */
export async function runCompare(
  command: Command,
  start: (options: Pick<CompareOptions, 'runsDir' | 'presentAgent'>, context: RunContext) => Promise<Run<CompareRunResult>>,
): Promise<void> {
  const { global, log, backend, present, stops } = await setUp(command);
  const run = await start(
    { runsDir: global.runsDir, presentAgent: () => present(false) },
    { runsDir: global.runsDir, backend, log, onEvent: () => {}, ...stops },
  );
  process.stdout.write(`${run.id}\n`);
}
