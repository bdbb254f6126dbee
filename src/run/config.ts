/**
 * The configuration of a try-and-learn run, as a schema: every field has a
 * default and a one-line description, unknown fields are rejected, and an
 * error names the field. Config files in configs/ are partial: what they omit
 * takes the default; CLI flags override both.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DEFAULT_AGENT_CONFIG as A } from '../../agent/reinforce.js';
import { DATASET_NAMES } from '../data/datasets.js';
import { CRITERIA } from '../heuristics/criteria.js';
import { DEFAULT_SENSITIVITY_CONFIG } from '../heuristics/sensitivity.js';
import { WEIGHTS_DTYPES } from '../models/quantize.js';
import { DEFAULT_BATCHNORM_IMAGES } from '../train/train.js';
import { type HoldoutConfig, holdoutSizes, MIN_HOLDOUT_IMAGES } from '../certify/holdout.js';
import { LATENCY_TARGETS } from '../latency/target.js';
import { ConfigError } from '../errors.js';
import type { EnvConfig } from '../../env/pruning-env.js';
import { type CacheLimits, DEFAULT_CACHE_LIMITS } from '../../env/activation-cache.js';
import type { LatencyTable } from '../latency/table.js';

/** How pixel bytes become model inputs (see PixelScaling). */
export const PIXEL_SCALING = z.union([
  z.enum(['0..1', '-1..1']),
  z.object({ mean: z.array(z.number()).min(1), std: z.array(z.number().positive()).min(1) }).strict(),
]);

const finetune = (epochs: number, learningRate: number) =>
  z
    .object({
      epochs: z.number().int().min(0).max(1000).default(epochs).describe('passes over the training images'),
      imagesPerEpoch: z.number().int().min(1).optional().describe('training images per epoch (a fresh seeded sample each epoch); all when absent'),
      batchSize: z.number().int().min(1).max(4096).default(64).describe('images per step'),
      learningRate: z.number().positive().max(1).default(learningRate).describe("Adam's initial learning rate, cosine decay to 0"),
      batchNormImages: z
        .number()
        .int()
        .min(0)
        .default(DEFAULT_BATCHNORM_IMAGES)
        .describe(
          'training images the BatchNorm statistics are re-estimated on after each epoch (0: keep the moving averages, which a short fine-tune leaves stale)',
        ),
      distillation: z
        .number()
        .min(0)
        .max(1)
        .default(0)
        .describe(
          "knowledge distillation from the unpruned model: the share of each image's target taken from its answer, the rest from the label (every method's fine-tunes alike; 0: labels only)",
        ),
      augment: z
        .object({
          flip: z.boolean().default(false).describe('mirror each training image left to right with probability 1/2'),
          cropPadding: z
            .number()
            .int()
            .min(0)
            .max(64)
            .default(0)
            .describe('pad each side with this many zero pixels, then crop a random window back (0: none)'),
        })
        .strict()
        .prefault({})
        .describe('random flips and crops of the training images, seeded (off by default)'),
    })
    .strict();

export const PruneConfigSchema = z
  .object({
    model: z
      .string()
      .min(1)
      .default('lenet5')
      .describe('trained model: zoo name (its newest train run, else the shipped baseline, else trained first), run id, or model.json path'),
    dataset: z.enum(DATASET_NAMES).default('mnist').describe('data set, when data (a folder) is not given'),
    data: z
      .string()
      .min(1)
      .optional()
      .describe(
        'a folder of labelled images (one subfolder per class, optionally under train/ val/ test/), of the four IDX files, or of CIFAR-10 binary batches; replaces dataset',
      ),
    dataDir: z.string().optional().describe('folder with the four IDX files of dataset (default: the bundled / Debian copy)'),
    scaling: PIXEL_SCALING.optional().describe(
      'pixel scaling the model expects: "0..1", "-1..1", or {"mean": [...], "std": [...]} per channel on the 0..1 scale (default: the baseline\'s, from its train run, else 0..1)',
    ),
    weightsDtype: z
      .enum(WEIGHTS_DTYPES)
      .optional()
      .describe("how the pruned model's float32 weights are saved: float32, or quantized as float16, uint16 or uint8 (default: as the baseline's are stored)"),
    validationSize: z
      .number()
      .int()
      .min(100)
      .optional()
      .describe(
        'training images held out for validation (the reward subset, the selection split, the certification split); default min(5000, a tenth); a val/ folder replaces it',
      ),
    seed: z.number().int().min(0).default(0).describe('seed of the reward subset, agents, sampling and fine-tuning'),
    splitSeed: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe('seed of the train / validation split (default: the seed the baseline was trained with, from its run record; else 0)'),
    tolerance: z
      .number()
      .gt(0)
      .lt(100)
      .default(1)
      .describe('b: accuracy points the pruned model may lose; certified as an upper confidence bound on images no choice has seen'),
    confidence: z
      .number()
      .gt(0.5)
      .lt(0.999)
      .default(0.95)
      .describe('confidence of the certified claim "drop <= b"; every choice aims at the bound certification would give it at this confidence'),
    certificationSamples: z
      .number()
      .int()
      .min(MIN_HOLDOUT_IMAGES)
      .optional()
      .describe(
        'validation images held out to certify the final model, read by no choice (default: half of them, no more than the reward subset leaves; the rest is the selection split, which holds the reward subset)',
      ),
    rewardTolerance: z
      .number()
      .gt(0)
      .lt(100)
      .optional()
      .describe(
        'b inside the reward when budget.calibrate is off: points a candidate may lose before fine-tuning (default: tolerance, as in the paper); the guarantee after fine-tuning always uses tolerance',
      ),
    phi: z
      .enum(['filters', 'flops', 'latency'])
      .default('filters')
      .describe(
        'efficiency term: log(N / kept) as in the paper, log(MACs / pruned MACs), or log(time / pruned time) predicted by a latency table of the target (latency.*)',
      ),
    latency: z
      .object({
        target: z
          .enum(LATENCY_TARGETS)
          .default('this')
          .describe("where time is measured: 'this' (this process's backend), or a page in headless Chromium with tfjs's wasm or webgl backend"),
        batch: z.number().int().min(1).max(4096).default(1).describe('images per forward pass the time is measured at (1: a web page classifying one image)'),
        table: z
          .string()
          .min(1)
          .optional()
          .describe('a latency.json (from an earlier run folder) to use instead of measuring one; decisions depend on the table, so reusing it repeats them'),
      })
      .strict()
      .prefault({}),
    rewardSamples: z
      .number()
      .int()
      .min(10)
      .default(1000)
      .describe("validation images the agent's candidates are scored on, drawn from the selection split (choice data both; the certification split is apart)"),
    evalBatchSize: z.number().int().min(1).default(500).describe('images per forward pass when scoring candidates'),
    rewardScore: z
      .enum(['accuracy', 'agreement', 'kl'])
      .default('accuracy')
      .describe(
        "what a candidate scores on the reward subset: its accuracy, its agreement with the unpruned model's answers (label-free; it moves only where pruning changed an answer), or kl: each image's exp(-KL) of its class probabilities from the unpruned model's (label-free and graded; 1 - it is read as points, about the mean KL in nats)",
      ),
    activationCache: z
      .object({
        backendMiB: z
          .number()
          .min(0)
          .default(DEFAULT_CACHE_LIMITS.backend / 2 ** 20)
          .describe("MiB a group's cached activations may take in the backend's memory (wasm's heap holds at most 4 GiB)"),
        hostMiB: z
          .number()
          .min(0)
          .default(DEFAULT_CACHE_LIMITS.host / 2 ** 20)
          .describe(
            'MiB they may take in host memory when the backend has no room (copied in per batch); beyond it no cache, each candidate runs the whole network',
          ),
      })
      .strict()
      .prefault({})
      .describe('where the activations before the group being decided are kept for its candidates (the same scores either way; only time and memory differ)'),
    workers: z
      .number()
      .int()
      .min(1)
      .max(64)
      .optional()
      .describe(
        "threads scoring the agent's sampled masks in parallel (default: one per wasm kernel thread, 1 on other backends; 1: in the main thread); decisions are the same for any count",
      ),
    agent: z
      .object({
        samplesPerIteration: z.number().int().min(2).max(100).default(A.samplesPerIteration).describe("masks sampled per REINFORCE iteration (the paper's M)"),
        maxIterations: z.number().int().min(1).default(A.maxIterations).describe('iterations at most per group'),
        minIterations: z.number().int().min(0).default(A.minIterations).describe('iterations at least before the stop rule applies'),
        patience: z.number().int().min(1).default(A.patience).describe('stop once the greedy mask has not changed for this many iterations'),
        hidden: z.number().int().min(4).max(1024).default(A.hidden).describe('width of the policy network'),
        learningRate: z.number().positive().max(1).default(A.learningRate).describe("the policy's Adam learning rate"),
        initialKeep: z.number().gt(0).lt(1).default(A.initialKeep).describe('keep probability of every filter before training'),
        entropyBonus: z.number().min(0).default(A.entropyBonus).describe('weight of an entropy bonus in the policy objective'),
        normalizeAdvantages: z.boolean().default(A.normalizeAdvantages).describe("divide advantages by the batch's reward spread"),
        race: z
          .object({
            enabled: z
              .boolean()
              .default(A.race.enabled)
              .describe(
                'score every candidate of an iteration on the first images, only the better half by reward on the rest (one round of successive halving); the others keep their first score',
              ),
            firstImages: z
              .number()
              .int()
              .min(1)
              .default(A.race.firstImages)
              .describe('reward images every candidate is scored on, rounded up to whole evaluation batches (no race when that is the whole subset)'),
            audit: z
              .boolean()
              .default(A.race.audit)
              .describe(
                'also score the dropped candidates on the rest, to record per iteration how many advantages the full scores would flip (raceSignFlips); costs what racing saves, the update still uses the raced scores',
              ),
          })
          .strict()
          .prefault({})
          .describe("racing the agent's candidates"),
      })
      .strict()
      .prefault({}),
    budget: z
      .object({
        byCost: z
          .boolean()
          .default(true)
          .describe('spend the tolerance across groups by the MACs each touches: after group g the fine-tuned drop may reach b x the share of groups 1..g'),
        calibrate: z
          .boolean()
          .default(true)
          .describe(
            "set the reward's tolerance per group to its remaining budget x the recovery by fine-tuning measured on earlier decisions (replaces rewardTolerance)",
          ),
        boundRoom: z
          .boolean()
          .default(true)
          .describe(
            "with calibrate: the reward's budget is the group's share of the room the certification margin leaves, share x (b - margin), as its probes are accepted (false: share x b)",
          ),
        initialRecovery: z.number().min(1).default(3).describe('recovery (points lost before fine-tuning per point lost after) assumed for the first group'),
        maxRecovery: z.number().min(1).default(20).describe('upper bound on the measured recovery'),
      })
      .strict()
      .prefault({}),
    recovery: z
      .object({
        adaptiveBatchNorm: z
          .boolean()
          .default(true)
          .describe("re-estimate the statistics of the BatchNorms after a candidate's changed layers on training images before scoring it (EagleEye)"),
        reconstruction: z
          .boolean()
          .default(true)
          .describe("refit the group's conv / dense consumers by least squares on their kept inputs before scoring (AMC, ThiNet)"),
        samples: z.number().int().min(8).max(4096).default(256).describe('training images for the BatchNorm statistics and the least squares'),
        maxReconstructionInputs: z
          .number()
          .int()
          .min(1)
          .default(512)
          .describe('consumers with a larger fan-in are not refitted (a solve per candidate costs its cube)'),
      })
      .strict()
      .prefault({}),
    observation: z
      .object({
        criteria: z
          .boolean()
          .default(true)
          .describe(
            "append per-filter criteria scores (l1, l2, fpgm, apoz, mean activation, taylor, bn scale, and any registerCriterion adds) to the agent's observation",
          ),
        criteriaSamples: z.number().int().min(1).default(512).describe('training images the data-driven criteria of the observation read'),
      })
      .strict()
      .prefault({}),
    policy: z
      .enum(['agent', ...CRITERIA])
      .default('agent')
      .describe(
        "what ranks a group's filters: 'agent' (try-and-learn), or a criterion name: no agent, the count search follows that criterion from half the group (a control that shows what learning adds)",
      ),
    countSearch: z
      .enum(['bisect', 'halve'])
      .default('bisect')
      .describe(
        "how a decision over its budget keeps more filters, along the policy's ranking: bisection (the smallest fix found) or half of the remaining filters per step",
      ),
    searchStart: z
      .enum(['top', 'low'])
      .default('top')
      .describe(
        "where the criteria's and sensitivity's tolerance searches start: 'top' tries the most pruning first and halves (one probe when the model tolerates it); 'low' tries one resolution step and doubles until a probe fails, then bisects (a deep network that tolerates a few percent: no probe spent far above it)",
      ),
    tighten: z.boolean().default(true).describe("when the agent's mask is within its budget, bisect towards fewer filters along the policy's ranking"),
    widthMultiple: z
      .number()
      .int()
      .min(1)
      .max(64)
      .default(1)
      .describe(
        "every method's kept counts rounded up to a multiple of N (or the whole group): on wasm a 3x3 convolution's time steps every 8 output channels, so the channels up to the next multiple cost nothing; 1: off",
      ),
    sensitivity: z
      .object({
        ratios: z
          .array(z.number().gt(0).lt(1))
          .min(1)
          .default(DEFAULT_SENSITIVITY_CONFIG.ratios)
          .describe("shares of a group's channels removed, one group at a time, to measure its curve"),
        curveImages: z
          .number()
          .int()
          .min(MIN_HOLDOUT_IMAGES)
          .optional()
          .describe(
            'selection images each curve point is measured on (the first ones; all when absent): the curves cost groups x ratios passes over them; every probe is still checked on the whole split',
          ),
      })
      .strict()
      .prefault({})
      .describe("the sensitivity method's curves (compare's sensitivity row, Li et al. 2017)"),
    finetune: finetune(1, 5e-4).prefault({}).describe('fine-tuning after each group is pruned'),
    finalFinetune: finetune(2, 5e-4).prefault({}).describe('fine-tuning after the last group'),
    fallbackSteps: z
      .number()
      .int()
      .min(0)
      .max(10)
      .default(2)
      .describe(
        "fine-tuned models per pruned group between the group whole and its kept count, added to the path certification walks (least pruned first), so that a model that fails falls back to a near one; 0: the count search's accepted probes only",
      ),
    relaxSteps: z
      .number()
      .int()
      .min(1)
      .max(20)
      .default(4)
      .describe("fine-tuned probes per group after the agent's own mask (count search); a group with no probe within its budget stays whole"),
    onePass: z
      .object({
        enabled: z
          .boolean()
          .default(false)
          .describe(
            'decide every group on recovered scores with no fine-tune in between (the count search checks the reward subset, before fine-tuning), then one final fine-tune; fallbackSteps earlier points of the pass, each given the final fine-tune, are the path certification walks',
          ),
        drop: z
          .number()
          .gt(0)
          .lt(100)
          .optional()
          .describe(
            'points the reward subset may lose before any fine-tuning by the last group, shared over the groups as the tolerance is (default: 4 times the tolerance); the final fine-tune must win most of them back',
          ),
      })
      .strict()
      .prefault({})
      .describe('the one-pass mode: no fine-tune between groups (off: each group is fine-tuned and checked on the selection split before the next)'),
    trainEpochs: z.number().int().min(1).default(6).describe('epochs when the baseline has to be trained first'),
    timeBudget: z
      .number()
      .positive()
      .optional()
      .describe(
        "seconds the run may take: before it starts, the search's iterations, the reward subset, the fine-tunes' images and the probes are scaled down until the estimate's high end fits (estimate.ts, fitToBudget), or the run is refused; absent: no limit",
      ),
  })
  .strict()
  .refine((c) => c.rewardTolerance === undefined || !c.budget.calibrate, {
    path: ['rewardTolerance'],
    message: 'is used only when budget.calibrate is false (the calibrated budget sets the reward tolerance per group)',
  })
  .superRefine((c, ctx) => {
    if (c.validationSize === undefined) return;
    try {
      holdoutSizes(c.validationSize, holdoutOf(c));
    } catch (err) {
      ctx.addIssue({ code: 'custom', path: ['certificationSamples'], message: `with validationSize ${c.validationSize}: ${(err as Error).message}` });
    }
  });

export type PruneConfig = z.infer<typeof PruneConfigSchema>;

/** The final fine-tune of a run of `config`, seeded apart from the groups' fine-tunes: the agent's run and every compare row get the same. */
export const finalFinetuneOf = (config: Pick<PruneConfig, 'finalFinetune' | 'seed'>) => ({
  ...config.finalFinetune,
  seed: config.seed + 999,
  restoreBest: true,
});

/** The group indexes after which a one-pass run keeps a fine-tuned point for its path: `points` of them, evenly spaced, the last group left out (the final model is its own). */
export function onePassPoints(groups: number, points: number): number[] {
  const indexes = Array.from({ length: points }, (_, j) => Math.round(((j + 1) * groups) / (points + 1)) - 1);
  return [...new Set(indexes.filter((i) => i >= 0 && i < groups - 1))];
}

/** The pruning environment's settings in a run of `config` (with the latency table phi: latency needs). */
export function envConfigOf(config: PruneConfig, latency?: LatencyTable): EnvConfig {
  if (config.phi === 'latency' && latency === undefined) throw new Error('phi latency needs a latency table');
  return {
    ...(config.phi === 'latency' && { latency }),
    tolerance: config.rewardTolerance ?? config.tolerance,
    phi: config.phi,
    rewardSamples: config.rewardSamples,
    certificationSamples: config.certificationSamples,
    evalBatchSize: config.evalBatchSize,
    rewardScore: config.rewardScore,
    cacheLimits: cacheLimitsOf(config),
    seed: config.seed,
    recovery: config.recovery,
    observationCriteria: config.observation.criteria,
    criteriaSamples: config.observation.criteriaSamples,
  };
}

/** The activation cache's limits of `config`, in bytes. */
export const cacheLimitsOf = ({ activationCache }: Pick<PruneConfig, 'activationCache'>): CacheLimits => ({
  backend: activationCache.backendMiB * 2 ** 20,
  host: activationCache.hostMiB * 2 ** 20,
});

/** How a run of `config` divides the validation split (see src/certify/holdout.ts). */
export const holdoutOf = (config: Pick<PruneConfig, 'rewardSamples' | 'certificationSamples' | 'seed'>): HoldoutConfig => ({
  rewardSamples: config.rewardSamples,
  certificationSamples: config.certificationSamples,
  seed: config.seed,
});

/** The validation split must have room for the reward subset, a selection and a certification split; checked once the data are known. */
export function checkHoldout(config: Pick<PruneConfig, 'rewardSamples' | 'certificationSamples' | 'seed'>, validationImages: number): void {
  try {
    holdoutSizes(validationImages, holdoutOf(config));
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}

/**
 * Validates a partial config; the error names each offending field and where
 * it came from: `source`, or for a field set elsewhere (a flag, --set) the
 * label `origins` gives its path or a parent of it.
 */
export function parsePruneConfig(input: unknown, source = 'config', origins: ReadonlyMap<string, string> = new Map()): PruneConfig {
  const result = PruneConfigSchema.safeParse(input ?? {});
  if (!result.success) {
    // The field's own origin, a parent's, or (for a field that became a group, e.g. --set tolerance.x=1) a child's.
    const originOf = (path: (string | number | symbol)[]) => {
      for (let n = path.length; n > 0; n--) {
        const label = origins.get(path.slice(0, n).map(String).join('.'));
        if (label !== undefined) return label;
      }
      const field = `${path.map(String).join('.')}.`;
      return [...origins].find(([set]) => set.startsWith(field))?.[1] ?? source;
    };
    const problems = result.error.issues.map((issue) => {
      const field = issue.path.join('.') || '(top level)';
      if (issue.code === 'unrecognized_keys') {
        const fields = issue.keys.map((k) => [...issue.path, k]);
        return `${originOf(fields[0])}: unknown field${fields.length > 1 ? 's' : ''} ${fields.map((f) => f.join('.')).join(', ')}`;
      }
      return `${originOf(issue.path)}: ${field}: ${issue.message}`;
    });
    throw new ConfigError(problems.join('; '));
  }
  return result.data;
}

/** A config file: a JSON object of config fields. */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${path}: not valid JSON (${(err as Error).message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(
      `${path}: expected a JSON object of config fields, got ${parsed === null ? 'null' : Array.isArray(parsed) ? 'an array' : typeof parsed}`,
    );
  }
  return parsed as Record<string, unknown>;
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Sets `value` at a dotted path ("agent.maxIterations") of a plain object;
 * `label` (e.g. "--set agent.hidden=32") names the assignment in errors.
 */
export function setPath(target: Record<string, unknown>, path: string, value: unknown, label = path): void {
  const keys = path.split('.');
  if (keys.some((key) => key === '' || FORBIDDEN_KEYS.has(key))) throw new ConfigError(`${label}: "${path}" is not a config field`);
  let node = target;
  for (const [i, key] of keys.slice(0, -1).entries()) {
    if (!Object.hasOwn(node, key) || node[key] === undefined) node[key] = {};
    const next = node[key];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) {
      throw new ConfigError(`${label}: ${keys.slice(0, i + 1).join('.')} is ${JSON.stringify(next)}, not a group of fields`);
    }
    node = next as Record<string, unknown>;
  }
  node[keys[keys.length - 1]] = value;
}

/** One line per field: name, default, description (for --help and the README). */
export function describeConfig(): string[] {
  const lines: string[] = [];
  const walk = (shape: Record<string, z.ZodType>, prefix: string) => {
    for (const [key, field] of Object.entries(shape)) {
      const inner = unwrap(field);
      if (inner instanceof z.ZodObject) walk(inner.shape as Record<string, z.ZodType>, `${prefix}${key}.`);
      else {
        const bounds = boundsOf(inner);
        const shown = `default ${JSON.stringify(defaultOf(field))}${bounds === undefined ? '' : `; ${bounds}`}`;
        lines.push(`${prefix}${key} (${shown}): ${field.description ?? inner.description ?? ''}`);
      }
    }
  };
  walk(PruneConfigSchema.shape as Record<string, z.ZodType>, '');
  return lines;
}

/** A number field's accepted values as the schema checks them, e.g. "integer, >= 1, <= 20" (undefined for other fields). */
function boundsOf(field: z.ZodType): string | undefined {
  if (!(field instanceof z.ZodNumber)) return undefined;
  const parts = (field._zod.def.checks ?? []).flatMap((check) => {
    const def = check._zod.def as { check: string; value?: unknown; inclusive?: boolean };
    if (def.check === 'greater_than') return [`${def.inclusive ? '>=' : '>'} ${def.value}`];
    if (def.check === 'less_than') return [`${def.inclusive ? '<=' : '<'} ${def.value}`];
    return [];
  });
  if (field.isInt) parts.unshift('integer');
  return parts.length > 0 ? parts.join(', ') : undefined;
}

function unwrap(field: z.ZodType): z.ZodType {
  let inner: z.ZodType = field;
  while (inner instanceof z.ZodDefault || inner instanceof z.ZodPrefault || inner instanceof z.ZodOptional) inner = inner.unwrap() as z.ZodType;
  return inner;
}

function defaultOf(field: z.ZodType): unknown {
  const parsed = field.safeParse(undefined);
  return parsed.success ? parsed.data : undefined;
}

/** The schema of a config field ("agent.maxIterations") as declared, with its default. */
function fieldSchema(path: string): z.ZodType {
  let field: z.ZodType = PruneConfigSchema;
  for (const key of path.split('.')) {
    const group = unwrap(field);
    const next = group instanceof z.ZodObject ? (group.shape as Record<string, z.ZodType | undefined>)[key] : undefined;
    if (next === undefined) throw new Error(`no config field ${path}`);
    field = next;
  }
  return field;
}

/**
 * A config field's description, after its group's where the group has one
 * ("fine-tuning after each group is pruned: passes over the training
 * images"): the schema is the one place each setting is described, and the
 * CLI's help reads it.
 */
export function describeField(path: string): string {
  const descriptionOf = (field: z.ZodType) => field.description ?? unwrap(field).description;
  const own = descriptionOf(fieldSchema(path));
  if (own === undefined) throw new Error(`config field ${path} has no description`);
  const group = path.includes('.') ? descriptionOf(fieldSchema(path.slice(0, path.lastIndexOf('.')))) : undefined;
  return group === undefined ? own : `${group}: ${own}`;
}

/** A config field's default (undefined when it has none). */
export const fieldDefault = (path: string): unknown => defaultOf(fieldSchema(path));
