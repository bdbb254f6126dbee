/** `autoprune compare`, `demo` and `report`: every method from one baseline at one tolerance (the comparison itself is src/compare/compare.ts). */
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { compare as startCompare, redrawReport } from '../compare/compare.js';
import { type Method, METHODS } from '../run/compare-results.js';
import { DEFAULT_SEARCH } from '../heuristics/pipeline.js';
import { parsePruneConfig, readConfigFile } from '../run/config.js';
import { shippedBaseline } from '../run/baselines.js';
import { addPruneFlags, configFromOptions, integerIn, queueAddress } from './options.js';
import { globalOptions, runCompare } from './session.js';
import { UsageError } from '../errors.js';

/** The demo: the shipped LeNet-5 baseline and a config sized for a few minutes on 2 cores. */
const DEMO_CONFIG = fileURLToPath(new URL('../../configs/demo-lenet5-mnist.json', import.meta.url));
const SHIPPED_LENET = shippedBaseline('lenet5', 'mnist')!;
const DEMO_PROBES = 4;

/** compare, demo (a compare with fixed settings) and report (a compare's report redrawn). */
export function addCompareCommands(program: Command): void {
  const compare = program
    .command('compare')
    .description('prune the same baseline with the agent and with hand-made criteria at the same tolerance, and compare them')
    .option('--methods <list>', `comma-separated, from ${METHODS.join(',')}`, METHODS.join(','))
    .option('--config <file>', "a JSON prune config: the agent's settings; its tolerance, seed and fine-tuning apply to every method")
    .option('--set <field=value...>', 'override any config field')
    .option(
      '--probes <n>',
      'at most N bisection probes per tolerance search (criteria: each ranking; sensitivity: its threshold); lower it for a quicker, coarser search',
      integerIn(1, 30),
      DEFAULT_SEARCH.maxProbes,
    )
    .option('--report <file>', 'where to write report.html (default: the run folder)')
    .option('--no-estimate', 'start without timing a few steps to estimate the compare (a --jobs compare starts its jobs so: it has estimated them)')
    .option(
      '--jobs <n>',
      'methods run at once, each in its own process (cores / N wasm threads each); results are the same as one at a time',
      integerIn(1, 64),
      1,
    )
    .option(
      '--queue <redis-url>',
      'run the methods as jobs on a BullMQ queue in Redis (redis://HOST:PORT) for `autoprune worker`s on machines that see the runs folder at the same path; results are the same as here',
      queueAddress,
    );
  addPruneFlags(compare).action(async (opts, command: Command) => {
    const methods = parseMethods(opts.methods);
    const config = configFromOptions(opts);
    await runCompare(command, (shown, context) =>
      startCompare(
        { ...shown, config, methods, probes: opts.probes, reportPath: opts.report, jobs: opts.jobs, queue: opts.queue, estimate: opts.estimate },
        context,
      ),
    );
  });

  program
    .command('demo')
    .description('prune the shipped LeNet-5 on MNIST at a 1-point tolerance with the agent, then compare it with L1-norm pruning (a few minutes on 2 cores)')
    .action(async (_opts, command: Command) => {
      const config = parsePruneConfig({ ...readConfigFile(DEMO_CONFIG), model: SHIPPED_LENET }, DEMO_CONFIG);
      await runCompare(command, (shown, context) => startCompare({ ...shown, config, methods: ['rl', 'l1'], probes: DEMO_PROBES, jobs: 1 }, context));
    });

  program
    .command('report')
    .description("redraw a compare run's report.html from its results.json; several runs of the same comparison (methods run in parallel) merge into one")
    .argument('<run-id...>', 'compare run folder names under --runs-dir')
    .option('--out <file>', 'where to write it (default: the run folder; required with several runs)')
    .action(async (runIds: string[], opts, command: Command) => {
      const global = globalOptions(command);
      if (runIds.length > 1 && opts.out === undefined) throw new UsageError('report: with several runs, say where the merged report goes with --out');
      process.stdout.write(`${await redrawReport(runIds, global.runsDir, opts.out)}\n`);
    });
}

function parseMethods(list: string): Method[] {
  const names = list
    .split(',')
    .map((m) => m.trim())
    .filter((m) => m.length > 0);
  const unknown = names.filter((m) => !(METHODS as readonly string[]).includes(m));
  if (unknown.length > 0)
    throw new UsageError(`--methods: unknown method${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; choose from ${METHODS.join(', ')}`);
  if (names.length === 0) throw new UsageError(`--methods: name at least one of ${METHODS.join(', ')}`);
  return [...new Set(names)] as Method[];
}
