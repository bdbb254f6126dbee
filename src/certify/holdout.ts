/**
 * The validation split in three disjoint, seeded parts:
 *
 *   reward subset   the agent's candidates are scored on it (nothing else reads it)
 *   selection split every choice: fine-tuning's epoch, count-search probes,
 *                   criteria's bisections, sensitivity thresholds, the final
 *                   fine-tune; each acceptance on a confidence bound
 *   certification   read once per method at the end, never to choose: the
 *                   claim "drop <= b at 95%" is made on these images
 *
 * One seeded permutation of the validation images: its first rewardSamples
 * are the reward subset, the next certificationSamples the certification
 * split, the rest the selection split (each kept in index order).
 */
import { type Split, seededPermutation, subsetSplit } from '../data/datasets.js';
import { HoldoutError } from '../errors.js';

/** Images the selection and the certification split each need at the least. */
export const MIN_HOLDOUT_IMAGES = 100;

export interface HoldoutConfig {
  /** Validation images the agent's candidates are scored on. */
  rewardSamples: number;
  /** Validation images held out for certification; default half of those the reward subset leaves. */
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

/** How many images each part gets from `validationCount`; throws a HoldoutError naming the fix when one is too small. */
export function holdoutSizes(validationCount: number, config: HoldoutConfig): { reward: number; selection: number; certification: number } {
  const reward = Math.min(config.rewardSamples, validationCount);
  const rest = validationCount - reward;
  const certification = config.certificationSamples ?? Math.floor(rest / 2);
  const selection = rest - certification;
  if (selection < MIN_HOLDOUT_IMAGES || certification < MIN_HOLDOUT_IMAGES) {
    const enough = 2 * MIN_HOLDOUT_IMAGES;
    const fix =
      rest < enough
        ? validationCount > enough
          ? `lower rewardSamples (--reward-samples) to at most ${validationCount - enough}, or give more validation images`
          : `give at least ${config.rewardSamples + enough} validation images`
        : certification < MIN_HOLDOUT_IMAGES
          ? `raise certificationSamples (--certification-samples) to at least ${MIN_HOLDOUT_IMAGES}`
          : `lower certificationSamples (--certification-samples) to at most ${rest - MIN_HOLDOUT_IMAGES}`;
    throw new HoldoutError(
      `the validation split has ${validationCount} images: ${reward} for the reward subset leave ${selection} for selection and ${certification} for certification, and each needs at least ${MIN_HOLDOUT_IMAGES}; ${fix} (a val/ folder, or --validation-size when the baseline is trained)`,
    );
  }
  return { reward, selection, certification };
}

const holdoutOrder = (validationCount: number, seed: number) => seededPermutation(validationCount, `${seed}-reward-subset`);

/** Indices into the validation split of the reward subset, in permutation order (what the agent's environment scores on). */
export function rewardSubset(validationCount: number, config: Pick<HoldoutConfig, 'rewardSamples' | 'seed'>): Uint32Array {
  return holdoutOrder(validationCount, config.seed).slice(0, Math.min(config.rewardSamples, validationCount));
}

export function holdoutIndices(validationCount: number, config: HoldoutConfig): HoldoutIndices {
  const { reward, certification } = holdoutSizes(validationCount, config);
  const order = holdoutOrder(validationCount, config.seed);
  const sorted = (part: Uint32Array) => Uint32Array.from(part).sort();
  return {
    reward: order.slice(0, reward),
    certification: sorted(order.subarray(reward, reward + certification)),
    selection: sorted(order.subarray(reward + certification)),
  };
}

/** The selection and certification splits of `validation` (images copied). */
export function holdoutSplits(validation: Split, config: HoldoutConfig, inputShape: [number, number, number]): { selection: Split; certification: Split } {
  const indices = holdoutIndices(validation.count, config);
  return { selection: subsetSplit(validation, indices.selection, inputShape), certification: subsetSplit(validation, indices.certification, inputShape) };
}
