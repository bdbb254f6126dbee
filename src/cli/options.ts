/**
 * Options more than one command reads: parsers that reject bad values with a
 * message naming what was expected, the data and fine-tuning options, and
 * prune's flags (each sets a config field, described by the config schema).
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { DATASET_NAMES, type PixelScaling } from '../data/datasets.js';
import { DEFAULT_HEURISTIC_CONFIG } from '../heuristics/pipeline.js';
import { describeField, fieldDefault, parsePruneConfig, type PruneConfig, readConfigFile, setPath } from '../run/config.js';
import type { GlobalOptions } from './session.js';
import { ModelError, UsageError } from '../errors.js';
import { redisConnection } from '../compare/queue.js';

export function integerIn(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer from ${min}${max === Number.MAX_SAFE_INTEGER ? ' up' : ` to ${max}`}, got "${value}"`);
    }
    return n;
  };
}

export function numberIn(min: number, max: number, { minExclusive = false, maxExclusive = false } = {}) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || (minExclusive ? n <= min : n < min) || (maxExclusive ? n >= max : n > max)) {
      throw new InvalidArgumentError(`expected a number ${minExclusive ? '>' : '>='} ${min} and ${maxExclusive ? '<' : '<='} ${max}, got "${value}"`);
    }
    return n;
  };
}

/** A number flag of the config: the value as typed in the error when it is not a number (range checks are the config's). */
export function numberArgument(value: string): number {
  const n = value.trim() === '' ? Number.NaN : Number(value);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`expected a number, got "${value}"`);
  return n;
}

/** "30m", "3h", "1h30m", "90s" or a number of seconds: a duration, in seconds. */
export function durationArgument(value: string): number {
  const match = /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$/.exec(value.trim());
  const seconds = match === null ? Number.NaN : 3600 * Number(match[1] ?? 0) + 60 * Number(match[2] ?? 0) + Number(match[3] ?? 0);
  if (value.trim() === '' || !(seconds > 0)) throw new InvalidArgumentError(`expected a duration like 30m, 3h or 1h30m, got "${value}"`);
  return seconds;
}

/** "0.485,0.456,0.406": per-channel numbers. */
export function numberList(value: string): number[] {
  const numbers = value.split(',').map((v) => Number(v.trim()));
  if (value.trim() === '' || numbers.some((n) => !Number.isFinite(n)))
    throw new InvalidArgumentError(`expected comma-separated numbers like 0.485,0.456,0.406, got "${value}"`);
  return numbers;
}

/** "32x32": an image height and width. */
export function imageSize(value: string): [number, number] {
  const match = /^(\d+)x(\d+)$/.exec(value.trim());
  if (match === null || Number(match[1]) < 1 || Number(match[2]) < 1) throw new InvalidArgumentError(`expected HEIGHTxWIDTH like 32x32, got "${value}"`);
  return [Number(match[1]), Number(match[2])];
}

export function parseShape(value: string): [number, number, number] {
  const dims = value.split(',').map(Number);
  if (dims.length !== 3 || dims.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new ModelError(`--input-shape: expected three positive integers like 28,28,1, got "${value}"`);
  }
  return dims as [number, number, number];
}

/** prune's flags: flag, config field it sets, parser, and help where the field's description (the schema's) does not fit a flag. */
export const PRUNE_FLAGS: [string, string, (v: string) => unknown, string?][] = [
  ['--model <model>', 'model', String],
  ['--dataset <name>', 'dataset', String],
  ['--data <dir>', 'data', String],
  ['--data-dir <dir>', 'dataDir', String],
  ['--scaling <range>', 'scaling', String, 'pixel range the model expects: 0..1 or -1..1 (per-channel: --pixel-mean, --pixel-std)'],
  ['--pixel-mean <list>', 'scaling.mean', numberList, 'per-channel means on the 0..1 scale (with --pixel-std)'],
  ['--pixel-std <list>', 'scaling.std', numberList, 'per-channel standard deviations on the 0..1 scale'],
  ['--weights-dtype <dtype>', 'weightsDtype', String],
  ['--tolerance <points>', 'tolerance', numberArgument],
  ['--reward-tolerance <points>', 'rewardTolerance', numberArgument],
  ['--seed <n>', 'seed', numberArgument],
  ['--phi <kind>', 'phi', String],
  ['--width-multiple <n>', 'widthMultiple', numberArgument],
  ['--reward-samples <n>', 'rewardSamples', numberArgument],
  ['--workers <n>', 'workers', numberArgument],
  ['--max-iterations <n>', 'agent.maxIterations', numberArgument],
  ['--min-iterations <n>', 'agent.minIterations', numberArgument],
  ['--finetune-epochs <n>', 'finetune.epochs', numberArgument],
  ['--finetune-images <n>', 'finetune.imagesPerEpoch', numberArgument],
  ['--finetune-bn-images <n>', 'finetune.batchNormImages', numberArgument],
  ['--final-finetune-epochs <n>', 'finalFinetune.epochs', numberArgument],
  ['--validation-size <n>', 'validationSize', numberArgument],
  ['--train-epochs <n>', 'trainEpochs', numberArgument],
  [
    '--time-budget <duration>',
    'timeBudget',
    durationArgument,
    'how long a prune run may take (30m, 3h, 1h30m): the search, the reward subset and the fine-tunes are scaled down to fit the estimate, or the run is refused (not for compare: its methods share their fine-tunes)',
  ],
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
export function configFromOptions(opts: Record<string, unknown>): PruneConfig {
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

/** prune's flags on a command (prune and compare take the same). */
export function addPruneFlags(command: Command): Command {
  for (const [flag, path, parse, help] of PRUNE_FLAGS) command.option(flag, help ?? describeField(path), parse);
  return command;
}

/** Options shared by every command that prunes a trained model and fine-tunes it. */
export function addFinetuneOptions(command: Command): Command {
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

export function finetuneConfig(opts: Record<string, number | undefined>) {
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

export function modelSource(opts: Record<string, never>, global: GlobalOptions) {
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
export function addDataOptions(command: Command): Command {
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

export function dataFromOptions(opts: Record<string, unknown>): { dataset: string; data?: string; dataDir?: string; scaling?: PixelScaling } {
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

/** --queue's Redis address, refused in one line before anything starts when it is not redis://HOST:PORT. */
export function queueAddress(value: string): string {
  redisConnection(value);
  return value;
}
