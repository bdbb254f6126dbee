/** `autoprune criterion`: a hand-made criterion to a ratio or to a tolerance (the run itself is src/run/criterion-run.ts). */
import { type Command, Option } from 'commander';
import { CRITERIA } from '../heuristics/criteria.js';
import { DEFAULT_HEURISTIC_CONFIG, DEFAULT_SEARCH, RANKINGS, SCHEDULES } from '../heuristics/pipeline.js';
import { WEIGHTS_DTYPES } from '../models/quantize.js';
import { ZOO_NAMES_TEXT } from '../models/zoo.js';
import { criterionRun } from '../run/criterion-run.js';
import { describeField, fieldDefault } from '../run/config.js';
import { addDataOptions, addFinetuneOptions, finetuneConfig, integerIn, modelSource, numberIn } from './options.js';
import { setUp } from './session.js';
import { UsageError } from '../errors.js';

/** criterion: the options, then the run. */
export function addCriterionCommand(program: Command): void {
  const criterion: Command = program
    .command('criterion')
    .description('prune with a hand-made criterion to a ratio, or to the largest ratio within an accuracy tolerance')
    .requiredOption(
      '--model <model>',
      `trained model: a zoo name (${ZOO_NAMES_TEXT}: its newest train run, else a shipped baseline, else trained first), a run id, or a model.json path`,
    );
  addDataOptions(criterion)
    .addOption(new Option('--criterion <name>', 'filter-scoring criterion').choices([...CRITERIA]).default(DEFAULT_HEURISTIC_CONFIG.criterion))
    .addOption(
      new Option('--ranking <name>', 'local: same share per group; global: ranked across groups')
        .choices([...RANKINGS])
        .default(DEFAULT_HEURISTIC_CONFIG.ranking),
    )
    .addOption(
      new Option('--schedule <name>', 'one-shot, iterative or agp (automated gradual pruning)')
        .choices([...SCHEDULES])
        .default(DEFAULT_HEURISTIC_CONFIG.schedule),
    )
    .option('--steps <n>', 'pruning steps for iterative / agp', integerIn(1, 100), DEFAULT_HEURISTIC_CONFIG.steps)
    .option('--ratio <r>', 'share of prunable channels to remove, in [0, 1)', numberIn(0, 1, { maxExclusive: true }))
    .option(
      '--tolerance <points>',
      'accuracy points the pruned model may lose on validation data (searches the largest ratio)',
      numberIn(0, 100, { minExclusive: true, maxExclusive: true }),
    )
    .option(
      '--probes <n>',
      'at most N bisection probes of the tolerance search (it stops earlier at its resolution: 1 channel of the largest group, at least 0.01)',
      integerIn(1, 30),
      DEFAULT_SEARCH.maxProbes,
    )
    .addOption(new Option('--search-start <where>', describeField('searchStart')).choices(['top', 'low']).default(fieldDefault('searchStart')))
    .option('--width-multiple <n>', describeField('widthMultiple'), integerIn(1, 64), fieldDefault('widthMultiple') as number)
    .option('--max-ratio <r>', 'largest ratio the tolerance search tries', numberIn(0, 0.99, { minExclusive: true }), DEFAULT_SEARCH.maxRatio)
    .option(
      '--final-finetune-epochs <n>',
      "epochs of the final fine-tune after a tolerance search, kept only if it helps (a compare's rows get it too; 0: none)",
      integerIn(0, 1000),
      fieldDefault('finalFinetune.epochs') as number,
    )
    .addOption(new Option('--weights-dtype <dtype>', "how the pruned model's weights are saved (default: as the baseline's)").choices([...WEIGHTS_DTYPES]));
  addFinetuneOptions(criterion).action(async (opts, command: Command) => {
    if ((opts.ratio === undefined) === (opts.tolerance === undefined)) throw new UsageError('criterion: give exactly one of --ratio R and --tolerance POINTS');
    const { global, log, backend, stops } = await setUp(command);
    const run = await criterionRun(
      {
        ...modelSource(opts, global),
        heuristic: {
          criterion: opts.criterion,
          ranking: opts.ranking,
          schedule: opts.schedule,
          steps: opts.steps,
          minKeepFraction: opts.minKeep,
          finetune: finetuneConfig(opts),
          scoringSamples: opts.scoringSamples,
          seed: opts.seed,
          widthMultiple: opts.widthMultiple,
        },
        weightsDtype: opts.weightsDtype,
        ratio: opts.ratio,
        search:
          opts.tolerance === undefined ? undefined : { tolerance: opts.tolerance, maxProbes: opts.probes, maxRatio: opts.maxRatio, start: opts.searchStart },
        finalFinetune: { ...finetuneConfig(opts), epochs: opts.finalFinetuneEpochs, seed: opts.seed + 999 },
      },
      backend,
      log,
      stops,
    );
    process.stdout.write(`${run.id}\n`);
  });
}
