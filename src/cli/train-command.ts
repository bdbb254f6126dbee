/** `autoprune train`: a zoo model trained on a data set or an image folder, saved as a run (the run itself is src/run/train-run.ts). */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { isZooName, ZOO_NAMES_TEXT } from '../models/zoo.js';
import { trainRun } from '../run/train-run.js';
import { DEFAULT_BATCHNORM_IMAGES, DEFAULT_TRAIN_CONFIG } from '../train/train.js';
import { addDataOptions, dataFromOptions, imageSize, integerIn, numberIn } from './options.js';
import { setUp } from './session.js';

/** train: the options, then the run. */
export function addTrainCommand(program: Command): void {
  const train = program
    .command('train')
    .description('train a zoo model on a data set or a folder of images and save it as a baseline run')
    .addOption(new Option('--model <name>', `zoo model: ${ZOO_NAMES_TEXT}`).argParser(zooName).makeOptionMandatory());
  addDataOptions(train)
    .option('--image-size <HxW>', "size the images are decoded or resized to (default: the first image's; a data set's own)", imageSize)
    .addOption(
      new Option(
        '--channels <n>',
        'channels the images are decoded or resized to: 1 (gray) or 3 (RGB, gray copied); default: 1 if the first image is gray',
      ).choices(['1', '3']),
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
    .option('--flip', 'augment: mirror each training image left to right with probability 1/2 (seeded)')
    .option('--crop-padding <n>', 'augment: pad each side with N zero pixels, then crop a random window back (seeded)', integerIn(0, 64), 0)
    .action(async (opts, command: Command) => {
      const data = dataFromOptions(opts);
      const { global, log, backend, stops } = await setUp(command);
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
          augment: { flip: opts.flip === true, cropPadding: opts.cropPadding },
          runsDir: global.runsDir,
        },
        backend,
        log,
        stops,
      );
      process.stdout.write(`${run.id}\n`);
    });
}

/** --model: a zoo name, or commander's one-line error that lists them. */
function zooName(value: string): string {
  if (!isZooName(value)) throw new InvalidArgumentError(`Allowed choices are ${ZOO_NAMES_TEXT}.`);
  return value;
}
