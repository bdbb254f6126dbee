/**
 * The validation split in two disjoint, seeded parts: the choice data and
 * the certification split.
 *
 *   choice data     every choice: the agent's candidates are scored on its
 *                   reward subset; the selection split (all of the choice
 *                   data, the reward subset included) takes fine-tuning's
 *                   epoch, count-search probes, criteria's bisections,
 *                   sensitivity thresholds, the final fine-tune
 *   certification   read once per method at the end, never to choose: the
 *                   claim "drop <= b at 95%" is made on these images
 *
 * The claim needs only that the certification split is disjoint from what
 * chose; the choices need no bound of their own, so the reward subset and
 * the selection split may share images, and the certification split gets
 * half of the validation split by default.
 *
 * One seeded permutation of the validation images: its last
 * certificationSamples are the certification split, everything before them
 * the selection split, whose first rewardSamples are the reward subset (the
 * splits kept in index order; the reward subset in permutation order).
 */
import { type Split, seededPermutation, subsetSplit } from '../data/datasets.js';
import { HoldoutError } from '../errors.js';

/** Images the selection and the certification split each need at the least. */
export const MIN_HOLDOUT_IMAGES = 100;

export interface HoldoutConfig {
  /** Validation images the agent's candidates are scored on: the selection split's first ones (all of it when it is smaller). */
  rewardSamples: number;
  /** Validation images held out for certification; default half of them. */
  certificationSamples?: number;
  /** Seed of the permutation. */
  seed: number;
}

/** Indices into the validation split of each part. */
export interface HoldoutIndices {
  reward: Uint32Array;
  selection: Uint32Array;
  certification: Uint32Array;
}

/** How many images each part gets from `validationCount` (the reward subset is the selection split's first images, at most all of them); throws a HoldoutError naming the fix when a split is too small. */
export function holdoutSizes(validationCount: number, config: HoldoutConfig): { reward: number; selection: number; certification: number } {
  const certification = certificationSize(validationCount, config);
  const selection = validationCount - certification;
  if (selection < MIN_HOLDOUT_IMAGES || certification < MIN_HOLDOUT_IMAGES) {
    const fix =
      validationCount < 2 * MIN_HOLDOUT_IMAGES
        ? `give at least ${2 * MIN_HOLDOUT_IMAGES} validation images`
        : `lower certificationSamples (--certification-samples) to at most ${validationCount - MIN_HOLDOUT_IMAGES}`;
    throw new HoldoutError(
      `the validation split has ${validationCount} images: ${certification} for certification leave ${selection} for selection, and each needs at least ${MIN_HOLDOUT_IMAGES}; ${fix} (a val/ folder, or --validation-size when the baseline is trained)`,
    );
  }
  return { reward: rewardSize(validationCount, config), selection, certification };
}

const certificationSize = (validationCount: number, config: HoldoutConfig) => config.certificationSamples ?? Math.floor(validationCount / 2);
const rewardSize = (validationCount: number, config: HoldoutConfig) =>
  Math.max(0, Math.min(config.rewardSamples, validationCount - certificationSize(validationCount, config)));

const holdoutOrder = (validationCount: number, seed: number) => seededPermutation(validationCount, `${seed}-reward-subset`);

/** Indices into the validation split of the reward subset, in permutation order (what the agent's environment scores on). */
export function rewardSubset(validationCount: number, config: HoldoutConfig): Uint32Array {
  return holdoutOrder(validationCount, config.seed).slice(0, rewardSize(validationCount, config));
}

export function holdoutIndices(validationCount: number, config: HoldoutConfig): HoldoutIndices {
  const { reward, selection } = holdoutSizes(validationCount, config);
  const order = holdoutOrder(validationCount, config.seed);
  const sorted = (part: Uint32Array) => Uint32Array.from(part).sort();
  return {
    reward: order.slice(0, reward),
    selection: sorted(order.subarray(0, selection)),
    certification: sorted(order.subarray(selection)),
  };
}

/** The selection and certification splits of `validation` (images copied). */
export function holdoutSplits(validation: Split, config: HoldoutConfig, inputShape: [number, number, number]): { selection: Split; certification: Split } {
  const indices = holdoutIndices(validation.count, config);
  return { selection: subsetSplit(validation, indices.selection, inputShape), certification: subsetSplit(validation, indices.certification, inputShape) };
}
