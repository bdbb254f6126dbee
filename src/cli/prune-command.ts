/** `autoprune prune`: the try-and-learn agent within a tolerance (the run itself is src/run/prune-run.ts). */
import type { Command } from 'commander';
import { describeConfig } from '../run/config.js';
import { pruneRun } from '../run/prune-run.js';
import { addPruneFlags, configFromOptions } from './options.js';
import { setUp } from './session.js';

/** prune: a config from --config, the flags and --set (validated before anything starts); the run shown as it goes. */
export function addPruneCommand(program: Command): void {
  const prune = program
    .command('prune')
    .description('prune with the try-and-learn agent within an accuracy tolerance (uses a shipped or newly trained baseline if none is given)')
    .option('--config <file>', 'a JSON config (see configs/); flags override its fields')
    .option('--set <field=value...>', 'override any config field, e.g. --set agent.hidden=32')
    .option('--json', 'print every event as one JSON line on stdout');
  addPruneFlags(prune).addHelpText('after', `\nConfig fields (defaults):\n  ${describeConfig().join('\n  ')}`);
  prune.action(async (opts, command: Command) => {
    const config = configFromOptions(opts);
    const { global, log, backend, present, stops } = await setUp(command);
    const view = await present(opts.json === true);
    const run = await pruneRun(config, { runsDir: global.runsDir, backend, log, onEvent: view.onEvent, ...stops }).finally(view.close);
    if (opts.json !== true) process.stdout.write(`${run.id}\n`);
  });
}
