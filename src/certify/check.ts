/**
 * The tolerance, checked as a confidence bound: on the selection split for
 * every choice (Bonferroni over the looks a method plans), and once at the
 * end on the certification split, which no choice has read.
 */
import type * as tf from '@tensorflow/tfjs';
import type { Dataset, Split } from '../data/datasets.js';
import { modelCost } from '../prune/metrics.js';
import { accuracyOf, correctness, evaluateAccuracy } from '../train/train.js';
import { type BoundedDrop, boundedDrop, dropUpperBound, pairedCounts } from './bound.js';
import { type Certification, type CertificationCheck, describeCertification, type MeasuredDrop, packBits, type UncertifiedModel } from './certification.js';

export interface BoundSettings {
  /** b: accuracy points the pruned model may lose. */
  tolerance: number;
  /** Confidence of the claim "the drop is at most the bound", e.g. 0.95. */
  confidence: number;
}

/** The unpruned model's answers on one split, against which candidates are paired. */
class PairedReference {
  protected constructor(
    readonly split: Split,
    readonly inputShape: [number, number, number],
    /** Which images the unpruned model gets right. */
    readonly reference: Uint8Array,
  ) {}

  get baseAccuracy(): number {
    return accuracyOf(this.reference);
  }

  /** The model's drop against the unpruned model on this split, bounded at `confidence`. */
  async measure(model: tf.LayersModel, confidence: number): Promise<MeasuredDrop & { right: Uint8Array }> {
    const right = await correctness(model, this.split, this.inputShape);
    return { accuracy: accuracyOf(right), ...boundedDrop(pairedCounts(this.reference, right), confidence), right };
  }
}

/**
 * Every choice's acceptance on the selection split. A method that plans
 * `looks` tolerance checks takes each at confidence 1 - (1 - c) / looks
 * (Bonferroni), so the chance that any model it accepts loses more than b is
 * at most 1 - c: the selection split stops flattering the method that looks
 * most often.
 */
export class SelectionCheck extends PairedReference {
  private constructor(
    split: Split,
    inputShape: [number, number, number],
    reference: Uint8Array,
    readonly settings: BoundSettings & { looks: number },
  ) {
    super(split, inputShape, reference);
  }

  static async create(
    unpruned: tf.LayersModel,
    split: Split,
    inputShape: [number, number, number],
    settings: BoundSettings & { looks: number },
  ): Promise<SelectionCheck> {
    if (!(Number.isInteger(settings.looks) && settings.looks >= 1)) throw new RangeError(`looks must be a positive integer, got ${settings.looks}`);
    return new SelectionCheck(split, inputShape, await correctness(unpruned, split, inputShape), settings);
  }

  /** The confidence each look is taken at. */
  get lookConfidence(): number {
    return 1 - (1 - this.settings.confidence) / this.settings.looks;
  }

  async check(model: tf.LayersModel): Promise<MeasuredDrop> {
    const { right: _, ...measured } = await this.measure(model, this.lookConfidence);
    return measured;
  }

  /**
   * Whether a measured model is within `allowedDrop` of the tolerance (the
   * whole tolerance by default): its point drop may use that share of the room
   * the bound leaves, drop <= (allowedDrop / b) (b - margin) with margin =
   * bound - drop. For the whole tolerance this is: the bound is at most b.
   */
  accepts(measured: BoundedDrop, allowedDrop = this.settings.tolerance): boolean {
    const { tolerance } = this.settings;
    if (allowedDrop >= tolerance) return measured.upperBound <= tolerance;
    const margin = measured.upperBound - measured.drop;
    return measured.drop <= (allowedDrop / tolerance) * (tolerance - margin);
  }
}

/** A model of a method's path, for certification. */
export interface PathModel {
  label: string;
  model: tf.LayersModel;
}

/**
 * The certification split: read once per method, at the end. Its path is
 * tested in order, least pruned first, each at the full confidence, and the
 * user gets the last model before the first that fails (fixed-sequence
 * testing: the family-wise error stays at 1 - confidence, with no
 * correction). Every model is measured, so a final model that fails is
 * reported with its numbers, never hidden.
 */
export class Certifier extends PairedReference {
  private constructor(
    split: Split,
    inputShape: [number, number, number],
    reference: Uint8Array,
    readonly settings: BoundSettings,
  ) {
    super(split, inputShape, reference);
  }

  static async create(unpruned: tf.LayersModel, split: Split, inputShape: [number, number, number], settings: BoundSettings): Promise<Certifier> {
    return new Certifier(split, inputShape, await correctness(unpruned, split, inputShape), settings);
  }

  async certify(path: PathModel[]): Promise<Certification> {
    const checks: CertificationCheck[] = [];
    const answers: Uint8Array[] = [];
    let chosen = -1;
    for (const [i, { label, model }] of path.entries()) {
      const { right, ...measured } = await this.measure(model, this.settings.confidence);
      const certified = chosen === i - 1 && measured.upperBound <= this.settings.tolerance;
      if (certified) chosen = i;
      checks.push({ label, ...measured, certified });
      answers.push(right);
    }
    return {
      ...this.settings,
      images: this.split.count,
      baseAccuracy: this.baseAccuracy,
      path: checks,
      chosen,
      correct: packBits(chosen >= 0 ? answers[chosen] : this.reference),
    };
  }
}

/** The numbers of a final model that did not certify (`data.validation` is the selection split), for its record. */
export async function uncertifiedNumbers(
  final: tf.LayersModel,
  baseline: tf.LayersModel,
  data: Dataset,
  certification: Certification,
): Promise<Omit<UncertifiedModel, 'modelPath'>> {
  const [before, after] = [modelCost(baseline), modelCost(final)];
  return {
    reason: describeCertification(certification),
    theoreticalSpeedup: before.macs / after.macs,
    compressionRatio: before.params / after.params,
    validationAccuracy: await evaluateAccuracy(final, data.validation, data.inputShape),
    testAccuracy: await evaluateAccuracy(final, data.test, data.inputShape),
  };
}

/** The margin (points) a bound adds to a zero drop on `n` images of which `disagreement` (fraction) are discordant. */
export function boundMargin(n: number, disagreement: number, confidence: number): number {
  const half = Math.round((disagreement * n) / 2);
  return 100 * dropUpperBound({ n, n10: half, n01: half }, 1 - confidence);
}

/**
 * One line when the splits are too small for a useful bound: the selection
 * margin for a model that disagrees with the unpruned one on as many images
 * as the unpruned model gets wrong (or on b points, if more) exceeds half of
 * b, so most of the tolerance goes to the bound. Says how many images would
 * bring it to b / 2. Undefined when the splits are large enough.
 */
export function boundAdvice(
  sizes: { selection: number; certification: number },
  unprunedErrorRate: number,
  settings: BoundSettings & { looks: number },
): string | undefined {
  const { tolerance, confidence, looks } = settings;
  const disagreement = Math.max(unprunedErrorRate, tolerance / 100);
  const selectionMargin = boundMargin(sizes.selection, disagreement, 1 - (1 - confidence) / looks);
  if (selectionMargin <= tolerance / 2) return undefined;
  const certificationMargin = boundMargin(sizes.certification, disagreement, confidence);
  // Margins shrink as 1 / sqrt(images).
  const needed = Math.ceil((sizes.selection * (selectionMargin / (tolerance / 2)) ** 2) / 100) * 100;
  // Or the tolerance these images support: the smallest b (the one asked plus k half points, under 100) whose chosen-model
  // margin is at most b/2 (the margin grows at most as the root of b, b/2 linearly).
  const supports = (b: number) => boundMargin(sizes.selection, Math.max(unprunedErrorRate, b / 100), 1 - (1 - confidence) / looks) <= b / 2;
  // In half points above the tolerance: low fails, high is the candidate; doubling first keeps the bounds near the answer (cheaper).
  const top = Math.floor((99.5 - tolerance) * 2);
  let [low, high] = [0, Math.min(1, top)];
  let found = high > 0 && supports(tolerance + high / 2);
  while (!found && high < top) {
    [low, high] = [high, Math.min(2 * high, top)];
    found = supports(tolerance + high / 2);
  }
  let orTolerance = '';
  if (found) {
    while (high - low > 1) {
      const middle = Math.floor((low + high) / 2);
      if (supports(tolerance + middle / 2)) high = middle;
      else low = middle;
    }
    orTolerance = `, or a tolerance of ${tolerance + high / 2} points would leave half of it to pruning`;
  }
  return (
    `bounds: with ${sizes.selection.toLocaleString('en-US')} selection and ${sizes.certification.toLocaleString('en-US')} certification images, ` +
    `a pruned model that disagrees with the unpruned one on ${(100 * disagreement).toFixed(1)}% of them gets an upper bound ${selectionMargin.toFixed(2)} points above its drop when chosen (${looks} looks) ` +
    `and ${certificationMargin.toFixed(2)} when certified, against b = ${tolerance}: little can be pruned; about ${needed.toLocaleString('en-US')} images in each split ` +
    `would bring the first to b/2 (more validation images: a val/ folder, or --validation-size when the baseline is trained)${orTolerance}`
  );
}
