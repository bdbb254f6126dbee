/** The `autoprune` command line. */
import { ScoringError } from '../../env/scoring-pool.js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { BACKEND_NAMES, BackendError, selectBackend, type BackendChoice } from '../backend/backend.js';
import { MAX_WASM_THREADS } from '../backend/wasm-threads.js';
import { DATASET_NAMES, type PixelScaling } from '../data/datasets.js';
import { DataError } from '../data/idx.js';
import { formatShape, hasUnknownInputSize, inputShapeOf, withInputShape } from '../models/input-shape.js';
import { resolveModel } from '../models/resolve.js';
import { WEIGHTS_DTYPES } from '../models/quantize.js';
import { ZOO_NAMES, ModelError } from '../models/zoo.js';
import { GraphError } from '../prune/graph.js';
import { PruneError } from '../prune/surgery.js';
import { checkRunsDir, describeWriteFault, RECORD_FILE, Run, RunError } from '../runs/records.js';
import { listCheckedRuns, listedRecord } from '../runs/results.js';
import { DEFAULT_BATCHNORM_IMAGES, DEFAULT_TRAIN_CONFIG } from '../train/train.js';
import { plural } from '../report/text.js';
import { ProgressLog } from './log.js';
import { CRITERIA, CriterionError } from '../heuristics/criteria.js';
import { DEFAULT_HEURISTIC_CONFIG, DEFAULT_SEARCH, RANKINGS, SCHEDULES } from '../heuristics/pipeline.js';
import { HoldoutError } from '../certify/holdout.js';
import { LatencyError } from '../latency/target.js';
import { ConfigError, describeConfig, describeField, fieldDefault, parsePruneConfig, type PruneConfig, readConfigFile, setPath } from '../run/config.js';
import { baselineCommand } from './baseline-command.js';
import { logEvent } from './prune-command.js';
import { pruneRun, resumeRun, type RunContext } from '../run/prune-run.js';
import { formatInspect, inspectModel } from './inspect-command.js';
import { imageSize, integerIn, numberIn, numberList } from './options.js';
import { Subject } from 'rxjs';
import type { RunEvent } from '../run/try-and-learn.js';
import { formatRuns, formatShow } from './runs-command.js';
import { trainRun } from '../run/train-run.js';
import { UsageError } from './usage-error.js';
import { type CompareRunResult, METHODS } from '../compare/results.js';
import { type CompareOptions, compare as startCompare, redrawReport, resumeCompare } from '../compare/compare.js';
import { parseMethods } from './compare-command.js';
import { ReportPathError } from '../report/report-html.js';
import { shippedBaseline } from '../runs/baselines.js';
import { fileURLToPath } from 'node:url';

/** Errors caused by the user's input: printed as one line, no stack. */
// Failures a user can act on: one line, exit 1 (a worker that failed names the way round it).
const USER_ERRORS = [
  BackendError,
  DataError,
  ModelError,
  RunError,
  GraphError,
  PruneError,
  CriterionError,
  UsageError,
  ConfigError,
  HoldoutError,
  LatencyError,
  ReportPathError,
  ScoringError,
];

interface GlobalOptions {
  backend?: string;
  threads?: number;
  runsDir: string;
  tui: boolean;
}

/** What every working command starts with: global options, the progress log, the backend. */
async function setUp(command: Command): Promise<{ global: GlobalOptions; log: ProgressLog; backend: BackendChoice }> {
  const global = command.optsWithGlobals() as GlobalOptions;
  checkRunsDir(global.runsDir);
  const log = new ProgressLog(process.stderr, process.stderr.isTTY === true && global.tui);
  return { global, log, backend: await startBackend(global, log) };
}

async function startBackend(global: GlobalOptions, log: ProgressLog): Promise<BackendChoice> {
  const choice = await selectBackend(global.backend, { threads: global.threads });
  const skipped = choice.skipped.length > 0 ? `; skipped: ${choice.skipped.map((s) => s.why).join('; ')}` : '';
  const threads = choice.threads === undefined ? '' : `, ${plural(choice.threads, 'kernel thread')}`;
  log.line(`backend: ${choice.name} (${choice.reason}${threads}${skipped})`);
  return choice;
}

/** The demo: the shipped LeNet-5 baseline and a config sized for a few minutes on 2 cores. */
const DEMO_CONFIG = fileURLToPath(new URL('../../configs/demo-lenet5-mnist.json', import.meta.url));
const SHIPPED_LENET = shippedBaseline('lenet5', 'mnist')!;
const DEMO_PROBES = 4;
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

  const train = program
    .command('train')
    .description('train a zoo model on a data set or a folder of images and save it as a baseline run')
    .addOption(new Option('--model <name>', 'zoo model').choices([...ZOO_NAMES]).makeOptionMandatory());
  addDataOptions(train)
    .option('--image-size <HxW>', "size a folder of images is decoded to (default: the first image's)", imageSize)
    .addOption(
      new Option('--channels <n>', 'channels a folder of images is decoded to: 1 (gray) or 3 (RGB); default: 1 if the first image is gray').choices(['1', '3']),
    )
    .option('--epochs <n>', 'passes over the training split', integerIn(1, 1000), DEFAULT_TRAIN_CONFIG.epochs)
    .option('--batch-size <n>', 'images per step', integerIn(1, 4096), DEFAULT_TRAIN_CONFIG.batchSize)
    .option('--lr <x>', "Adam's initial learning rate (cosine decay to 0)", numberIn(0, 1, { minExclusive: true }), DEFAULT_TRAIN_CONFIG.learningRate)
    .option('--seed <n>', 'seed of weights, split and batch order', integerIn(0), DEFAULT_TRAIN_CONFIG.seed)
    .option('--validation-size <n>', 'training images held out for validation', integerIn(1))
    .option('--train-limit <n>', 'use only the first N training images (quick runs)', integerIn(1))
    .option(
      '--bn-images <n>',
      'training images the BatchNorm statistics are re-estimated on after each epoch (0: keep the moving averages, which a short training leaves stale)',
      integerIn(0),
      DEFAULT_BATCHNORM_IMAGES,
    )
    .action(async (opts, command: Command) => {
      const data = dataFromOptions(opts);
      if ((opts.imageSize !== undefined || opts.channels !== undefined) && opts.data === undefined)
        throw new UsageError('train: --image-size and --channels apply to a folder of images (--data)');
      const { global, log, backend } = await setUp(command);
      const run = await trainRun(
        {
          model: opts.model,
          ...data,
          imageSize: opts.imageSize,
          channels: opts.channels === undefined ? undefined : Number(opts.channels),
          epochs: opts.epochs,
          batchSize: opts.batchSize,
          learningRate: opts.lr,
          seed: opts.seed,
          restoreBest: true,
          validationSize: opts.validationSize,
          trainLimit: opts.trainLimit,
          batchNormImages: opts.bnImages,
          runsDir: global.runsDir,
        },
        backend,
        log,
      );
      process.stdout.write(`${run.id}\n`);
    });

  const baseline: Command = program
    .command('baseline')
    .description('prune with a hand-made criterion to a ratio, or to the largest ratio within an accuracy tolerance')
    .requiredOption(
      '--model <model>',
      `trained model: a zoo name (${ZOO_NAMES.join(', ')}: its newest train run, else a shipped baseline, else trained first), a run id, or a model.json path`,
    );
  addDataOptions(baseline)
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
    .option('--max-ratio <r>', 'largest ratio the tolerance search tries', numberIn(0, 0.99, { minExclusive: true }), DEFAULT_SEARCH.maxRatio)
    .addOption(new Option('--weights-dtype <dtype>', "how the pruned model's weights are saved (default: as the baseline's)").choices([...WEIGHTS_DTYPES]));
  addFinetuneOptions(baseline).action(async (opts, command: Command) => {
    if ((opts.ratio === undefined) === (opts.tolerance === undefined)) throw new UsageError('baseline: give exactly one of --ratio R and --tolerance POINTS');
    const { global, log, backend } = await setUp(command);
    const run = await baselineCommand(
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
        },
        weightsDtype: opts.weightsDtype,
        ratio: opts.ratio,
        search: opts.tolerance === undefined ? undefined : { tolerance: opts.tolerance, maxProbes: opts.probes, maxRatio: opts.maxRatio },
      },
      backend,
      log,
    );
    process.stdout.write(`${run.id}\n`);
  });

  const prune = program
    .command('prune')
    .description('prune with the try-and-learn agent within an accuracy tolerance (uses a shipped or newly trained baseline if none is given)')
    .option('--config <file>', 'a JSON config (see configs/); flags override its fields')
    .option('--set <field=value...>', 'override any config field, e.g. --set agent.hidden=32')
    .option('--json', 'print every event as one JSON line on stdout');
  for (const [flag, path, parse, help] of PRUNE_FLAGS) prune.option(flag, help ?? describeField(path), parse);
  prune.addHelpText('after', `\nConfig fields (defaults):\n  ${describeConfig().join('\n  ')}`);
  prune.action(async (opts, command: Command) => {
    const global = command.optsWithGlobals() as GlobalOptions;
    const config = configFromOptions(opts);
    const { log, backend } = await setUp(command);
    const view = await presenter(global, opts.json === true, log);
    const run = await pruneRun(config, { runsDir: global.runsDir, backend, log, onEvent: view.onEvent }).finally(view.close);
    if (opts.json !== true) process.stdout.write(`${run.id}\n`);
  });

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
    .option(
      '--jobs <n>',
      'methods run at once, each in its own process (cores / N wasm threads each); results are the same as one at a time',
      integerIn(1, 64),
      1,
    );
  for (const [flag, path, parse, help] of PRUNE_FLAGS) compare.option(flag, help ?? describeField(path), parse);
  compare.action(async (opts, command: Command) => {
    const methods = parseMethods(opts.methods);
    const config = configFromOptions(opts);
    await runCompare(command, (shown, context) =>
      startCompare({ ...shown, config, methods, probes: opts.probes, reportPath: opts.report, jobs: opts.jobs }, context),
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
      const global = command.optsWithGlobals() as GlobalOptions;
      if (runIds.length > 1 && opts.out === undefined) throw new UsageError('report: with several runs, say where the merged report goes with --out');
      process.stdout.write(`${await redrawReport(runIds, global.runsDir, opts.out)}\n`);
    });

  program
    .command('resume')
    .description(
      "continue an interrupted prune run from its last finished group, or a compare run: finished methods are kept, the agent's run resumes, the rest run again",
    )
    .argument('<run-id>', 'the run folder name under --runs-dir')
    .option('--json', 'print every event as one JSON line on stdout (prune runs)')
    .option('--report <file>', 'where to write report.html (compare runs; default: the run folder)')
    .option('--jobs <n>', 'methods run at once (compare runs; default: as recorded); results are the same for any count', integerIn(1, 64))
    .action(async (runId: string, opts, command: Command) => {
      const global = command.optsWithGlobals() as GlobalOptions;
      const { command: kind } = (await Run.open(global.runsDir, runId)).record;
      if (kind !== 'prune' && kind !== 'compare') throw new RunError(`run "${runId}" is a ${kind} run; only prune and compare runs can be resumed`);
      const misplaced = kind === 'prune' ? ['report', 'jobs'].find((o) => opts[o] !== undefined) : opts.json === true ? 'json' : undefined;
      if (misplaced !== undefined) throw new UsageError(`resume: --${misplaced} does not apply to ${kind} runs`);
      if (kind === 'compare') {
        await runCompare(command, (options, context) => resumeCompare(runId, { ...options, reportPath: opts.report, jobs: opts.jobs }, context));
        return;
      }
      const { log, backend } = await setUp(command);
      const view = await presenter(global, opts.json === true, log);
      const run = await resumeRun(runId, { runsDir: global.runsDir, backend, log, onEvent: view.onEvent }).finally(view.close);
      if (opts.json !== true) process.stdout.write(`${run.id}\n`);
    });

  program
    .command('runs')
    .description('list the runs: command, model, status (a run whose process died shows as crashed), headline numbers')
    .option('--wide', 'every column in full, whatever the terminal width')
    .action((opts, command: Command) => {
      const global = command.optsWithGlobals() as GlobalOptions;
      // Fit the terminal (120 columns when not a terminal).
      const width = opts.wide === true ? Infinity : (process.stdout.columns ?? 120);
      process.stdout.write(`${formatRuns(listCheckedRuns(global.runsDir), width)}\n`);
    });

  program
    .command('show')
    .description("one run's summary, and how to resume it if it did not finish")
    .argument('<run-id>', 'the run folder name under --runs-dir')
    .action(async (runId: string, _opts, command: Command) => {
      const global = command.optsWithGlobals() as GlobalOptions;
      const run = await Run.open(global.runsDir, runId);
      process.stdout.write(`${formatShow(listedRecord(run.record, join(run.dir, RECORD_FILE)), run.dir)}\n`);
    });

  program
    .command('inspect')
    .description('show the layers, their cost, and the channel groups pruning would act on')
    .argument('<model>', `a zoo model (${ZOO_NAMES.join(', ')}), a run id under --runs-dir (its model), or a path to a TF.js layers model.json`)
    .option('--input-shape <h,w,c>', 'input shape for zoo models', '28,28,1')
    .option('--classes <n>', 'classes for zoo models', integerIn(2), 10)
    .option('--input-size <HxW>', 'image size for a model whose input size is unknown ([?, ?, ?, c]): costs per image of that size', imageSize)
    .option('--json', 'print the report as JSON')
    .action(async (spec: string, opts, command: Command) => {
      const global = command.optsWithGlobals() as GlobalOptions;
      await selectBackend(global.backend, { threads: global.threads });
      const inputShape = parseShape(opts.inputShape);
      const runModel = join(global.runsDir, spec, 'model', 'model.json');
      const path = existsSync(runModel) ? runModel : spec;
      let model = await resolveModel(path, { inputShape, numClasses: opts.classes, seed: 0 });
      const size = opts.inputSize as [number, number] | undefined;
      if (hasUnknownInputSize(model)) {
        const shape = inputShapeOf(model);
        if (size === undefined) throw new ModelError(`${path}: the model's input is ${formatShape(shape)}: give --input-size HxW for costs per image`);
        model = await withInputShape(model, [size[0], size[1], shape[2] ?? 3], path);
      } else if (size !== undefined && formatShape(inputShapeOf(model).slice(0, 2)) !== formatShape(size)) {
        throw new UsageError(`--input-size ${formatShape(size)}: the model's input size is fixed at ${formatShape(inputShapeOf(model))}`);
      }
      const report = inspectModel(model);
      process.stdout.write(`${opts.json ? JSON.stringify(report, null, 2) : formatInspect(report)}\n`);
    });

  return program;
}

/**
 * Where a run's events go: one JSON line each (--json), the live dashboard on
 * a terminal, or the plain line log (not a terminal, or --no-tui).
 */
async function presenter(global: GlobalOptions, json: boolean, log: ProgressLog): Promise<{ onEvent: (e: RunEvent) => void; close: () => Promise<void> }> {
  if (json) return { onEvent: (e) => process.stdout.write(`${JSON.stringify(e)}\n`), close: async () => {} };
  if (!(process.stderr.isTTY === true && global.tui)) return { onEvent: (e) => logEvent(e, log), close: async () => {} };
  const { showDashboard } = await import('./dashboard.js'); // ink and react load only for the dashboard
  const events = new Subject<RunEvent>();
  let stop: (() => Promise<void>) | undefined;
  return {
    onEvent: (e) => {
      stop ??= showDashboard(events); // from the first event on: what comes before (baseline training) uses the line log
      events.next(e);
    },
    close: async () => {
      events.complete();
      await stop?.();
    },
  };
}

/** A compare started (or resumed) by `start`, with the agent's run shown as prune shows it; prints the run id. */
async function runCompare(
  command: Command,
  start: (options: Pick<CompareOptions, 'runsDir' | 'presentAgent'>, context: RunContext) => Promise<Run<CompareRunResult>>,
): Promise<void> {
  const { global, log, backend } = await setUp(command);
  const run = await start(
    { runsDir: global.runsDir, presentAgent: () => presenter(global, false, log) },
    { runsDir: global.runsDir, backend, log, onEvent: () => {} },
  );
  process.stdout.write(`${run.id}\n`);
}

/** prune's flags: flag, config field it sets, parser, and help where the field's description (the schema's) does not fit a flag. */
const PRUNE_FLAGS: [string, string, (v: string) => unknown, string?][] = [
  ['--model <model>', 'model', String],
  ['--dataset <name>', 'dataset', String],
  ['--data <dir>', 'data', String],
  ['--data-dir <dir>', 'dataDir', String],
  ['--scaling <range>', 'scaling', String, 'pixel range the model expects: 0..1 or -1..1 (per-channel: --pixel-mean, --pixel-std)'],
  ['--pixel-mean <list>', 'scaling.mean', numberList, 'per-channel means on the 0..1 scale (with --pixel-std)'],
  ['--pixel-std <list>', 'scaling.std', numberList, 'per-channel standard deviations on the 0..1 scale'],
  ['--weights-dtype <dtype>', 'weightsDtype', String],
  ['--tolerance <points>', 'tolerance', Number],
  ['--reward-tolerance <points>', 'rewardTolerance', Number],
  ['--seed <n>', 'seed', Number],
  ['--phi <kind>', 'phi', String],
  ['--reward-samples <n>', 'rewardSamples', Number],
  ['--workers <n>', 'workers', Number],
  ['--max-iterations <n>', 'agent.maxIterations', Number],
  ['--min-iterations <n>', 'agent.minIterations', Number],
  ['--finetune-epochs <n>', 'finetune.epochs', Number],
  ['--finetune-images <n>', 'finetune.imagesPerEpoch', Number],
  ['--finetune-bn-images <n>', 'finetune.batchNormImages', Number],
  ['--final-finetune-epochs <n>', 'finalFinetune.epochs', Number],
  ['--validation-size <n>', 'validationSize', Number],
  ['--train-epochs <n>', 'trainEpochs', Number],
];

const camel = (flag: string) =>
  flag
    .replace(/^--/, '')
    .split(' ')[0]
    .replace(/-(\w)/g, (_, c: string) => c.toUpperCase());

/**
 * A prune config from --config, then the flags, then --set (later wins),
 * validated; an error names the file, flag or --set each bad field came from.
 */
function configFromOptions(opts: Record<string, unknown>): PruneConfig {
  const file = opts.config as string | undefined;
  const raw = file === undefined ? {} : readConfigFile(file);
  const origins = new Map<string, string>();
  const assign = (path: string, value: unknown, label: string) => {
    setPath(raw, path, value, label);
    origins.set(path, label);
  };
  for (const [flag, path] of PRUNE_FLAGS) {
    const value = opts[camel(flag)];
    if (value !== undefined) assign(path, value, `${flag.split(' ')[0]} ${String(value)}`);
  }
  for (const assignment of (opts.set as string[] | undefined) ?? []) {
    const [path, ...rest] = assignment.split('=');
    if (rest.length === 0) throw new UsageError(`--set ${assignment}: expected field=value`);
    assign(path, parseLiteral(rest.join('=')), `--set ${assignment}`);
  }
  return parsePruneConfig(raw, file ?? 'options', origins);
}

/** --set values: JSON when it parses (numbers, booleans), a string otherwise. */
function parseLiteral(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Options shared by every command that prunes a trained model and fine-tunes it. */
function addFinetuneOptions(command: Command): Command {
  const d = DEFAULT_HEURISTIC_CONFIG;
  return command
    .option('--seed <n>', 'seed of the split, scoring and fine-tuning', integerIn(0), 0)
    .option('--validation-size <n>', 'training images held out for validation', integerIn(1))
    .option('--finetune-epochs <n>', 'fine-tuning epochs after each pruning step', integerIn(0, 1000), d.finetune.epochs)
    .option('--finetune-lr <x>', 'fine-tuning learning rate (Adam, cosine decay)', numberIn(0, 1, { minExclusive: true }), d.finetune.learningRate)
    .option('--finetune-batch-size <n>', 'fine-tuning batch size', integerIn(1, 4096), d.finetune.batchSize)
    .option('--finetune-images <n>', 'training images per fine-tuning epoch (default: all)', integerIn(1))
    .option(
      '--finetune-bn-images <n>',
      'training images the BatchNorm statistics are re-estimated on after each fine-tuning epoch (0: off)',
      integerIn(0),
      d.finetune.batchNormImages,
    )
    .option('--scoring-samples <n>', 'training images read by data-driven criteria', integerIn(1), d.scoringSamples)
    .option('--min-keep <share>', "share of a group's channels always kept", numberIn(0, 1), d.minKeepFraction)
    .option('--train-epochs <n>', describeField('trainEpochs'), integerIn(1, 1000), fieldDefault('trainEpochs') as number);
}

function finetuneConfig(opts: Record<string, number | undefined>) {
  return {
    epochs: opts.finetuneEpochs!,
    learningRate: opts.finetuneLr!,
    batchSize: opts.finetuneBatchSize!,
    imagesPerEpoch: opts.finetuneImages,
    batchNormImages: opts.finetuneBnImages,
    seed: opts.seed!,
    restoreBest: true,
  };
}

function modelSource(opts: Record<string, never>, global: GlobalOptions) {
  return {
    model: opts.model,
    ...dataFromOptions(opts),
    validationSize: opts.validationSize,
    seed: opts.seed,
    runsDir: global.runsDir,
    trainEpochs: opts.trainEpochs,
  };
}

/** Where train and baseline read their data: a data set by name, or a folder; and the pixel scaling. */
function addDataOptions(command: Command): Command {
  return command
    .addOption(new Option('--dataset <name>', 'a data set by name (or give --data)').choices([...DATASET_NAMES]))
    .option(
      '--data <dir>',
      'a folder of labelled images (one subfolder per class, optionally under train/ val/ test/), of the four IDX files, or of CIFAR-10 binary batches',
    )
    .option('--data-dir <dir>', 'folder with the four IDX files of --dataset (default: the bundled / Debian copy)')
    .addOption(new Option('--scaling <range>', 'pixel range the model expects').choices(['0..1', '-1..1']))
    .option('--pixel-mean <list>', 'per-channel means on the 0..1 scale, subtracted before dividing by --pixel-std (e.g. 0.485,0.456,0.406)', numberList)
    .option('--pixel-std <list>', 'per-channel standard deviations on the 0..1 scale (e.g. 0.229,0.224,0.225)', numberList);
}

function dataFromOptions(opts: Record<string, unknown>): { dataset: string; data?: string; dataDir?: string; scaling?: PixelScaling } {
  if ((opts.dataset === undefined) === (opts.data === undefined)) throw new UsageError('give exactly one of --dataset NAME and --data DIR');
  if ((opts.pixelMean === undefined) !== (opts.pixelStd === undefined)) throw new UsageError('give --pixel-mean and --pixel-std together');
  if (opts.pixelMean !== undefined && opts.scaling !== undefined) throw new UsageError('give either --scaling or --pixel-mean / --pixel-std');
  const scaling =
    opts.pixelMean !== undefined ? { mean: opts.pixelMean as number[], std: opts.pixelStd as number[] } : (opts.scaling as PixelScaling | undefined);
  return {
    dataset: (opts.dataset as string | undefined) ?? DATASET_NAMES[0],
    data: opts.data as string | undefined,
    dataDir: opts.dataDir as string | undefined,
    scaling,
  };
}

function parseShape(value: string): [number, number, number] {
  const dims = value.split(',').map(Number);
  if (dims.length !== 3 || dims.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new ModelError(`--input-shape: expected three positive integers like 28,28,1, got "${value}"`);
  }
  return dims as [number, number, number];
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
    if (USER_ERRORS.some((E) => err instanceof E)) {
      process.stderr.write(`autoprune: ${(err as Error).message}\n`);
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
