/** The `autoprune` command line: global options, one file per command, and how errors are printed. */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { BACKEND_NAMES } from '../backend/backend.js';
import { MAX_WASM_THREADS } from '../backend/wasm-threads.js';
import { describeWriteFault } from '../run/records.js';
import { addCriterionCommand } from './criterion-command.js';
import { addCompareCommands } from './compare-command.js';
import { addInspectCommand } from './inspect-command.js';
import { integerIn } from './options.js';
import { addPruneCommand } from './prune-command.js';
import { addRunsCommands } from './runs-command.js';
import { addTrainCommand } from './train-command.js';
import { addWorkerCommand } from './worker-command.js';
import { InterruptedError, UserError } from '../errors.js';
import { stoppedExitCode } from './stop.js';

const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export function buildProgram(): Command {
  const program = new Command('autoprune')
    .description('Prune TensorFlow.js CNNs automatically: a reinforcement-learning agent learns which filters to remove within an accuracy tolerance.')
    .option('--backend <name>', `force a TensorFlow.js backend (${BACKEND_NAMES.join(', ')}); default: the fastest available`)
    .option(
      '--threads <n>',
      'kernel threads of the wasm backend (default: one per core, or $AUTOPRUNE_WASM_THREADS); results are identical for any count',
      integerIn(1, MAX_WASM_THREADS),
    )
    .option('--runs-dir <dir>', 'where run records are written', 'runs')
    .option('--no-tui', 'plain line logs instead of the live display')
    .version(PACKAGE_VERSION, '--version', 'print the version')
    .showHelpAfterError('(run with --help for usage)');
  // The order of `autoprune --help`.
  addTrainCommand(program);
  addCriterionCommand(program);
  addPruneCommand(program);
  addCompareCommands(program);
  addWorkerCommand(program);
  addRunsCommands(program);
  addInspectCommand(program);
  return program;
}

/**
 * A closed stdout or stderr (a pipe whose reader is gone: `| head`, or a
 * compare --jobs parent that stopped first; a terminal that was closed,
 * EIO, with its SIGHUP) must not crash a run before it records how it ended.
 */
function ignoreClosedPipes(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'EIO') throw err;
    });
  }
}

export async function main(argv: string[]): Promise<number> {
  ignoreClosedPipes();
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (err) {
    // Stopped by Ctrl-C (or SIGTERM, SIGHUP): the run recorded how far it got and said how to go on.
    if (err instanceof InterruptedError) return stoppedExitCode();
    // Failures a user can act on: one line, exit 1 (a worker that failed names the way round it).
    if (err instanceof UserError) {
      process.stderr.write(`autoprune: ${err.message}\n`);
      return 1;
    }
    const fault = describeWriteFault(err);
    if (fault !== undefined) {
      const message = (err as Error).message;
      process.stderr.write(`autoprune: ${message.startsWith(fault) ? message : fault}\n`);
      return 1;
    }
    // A bug, not bad input: say so and give the stack (rethrowing would let the wasm runtime's handler dump its source).
    process.stderr.write(`autoprune: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
    return 2;
  }
}
