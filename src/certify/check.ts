/**
 * The tolerance, checked as a confidence bound once, at the end, on the
 * certification split, which no choice has read; every choice before it aims
 * at what will certify (its point drop plus the margin certification would
 * add).
 */
import type * as tf from '@tensorflow/tfjs';
import type { Dataset, Split } from '../data/datasets.js';
import { modelCost } from '../prune/metrics.js';
import { accuracyOf, correctness as modelCorrectness, evaluateAccuracy, type SplitAnswers } from '../train/train.js';
import { timed } from '../phases.js';
import { type BoundedDrop, boundedDrop, dropUpperBound, type PairedCounts, pairedCounts } from './bound.js';
import { type Certification, type CertificationCheck, describeCertification, type MeasuredDrop, packBits, type UncertifiedModel } from './certification.js';

/** Which images of a split the model gets right: the reads every bound and certification make. */
const correctness = (model: tf.LayersModel, split: Split, inputShape: [number, number, number]) =>
  timed('bounds', () => modelCorrectness(model, split, inputShape));

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
 * Every choice's acceptance on the choice data (the selection split). A
 * candidate passes on its point drop plus the margin the certification split
 * would add to it: the bound its own disagreement rates with the unpruned
 * model would get on that split's images, at the certification's confidence.
 * The same rule for every method and every look, never scaled by how often a
 * method looks: the claim rests on certification alone (fixed-sequence
 * testing of the path, `Certifier`), so a choice only has to aim at what will
 * certify.
 */
export class SelectionCheck extends PairedReference {
  private constructor(
    split: Split,
    inputShape: [number, number, number],
    reference: Uint8Array,
    readonly settings: ChoiceSettings,
  ) {
    super(split, inputShape, reference);
  }

  static async create(unpruned: tf.LayersModel, split: Split, inputShape: [number, number, number], settings: ChoiceSettings): Promise<SelectionCheck> {
    if (!(Number.isInteger(settings.certificationImages) && settings.certificationImages >= 1))
      throw new RangeError(`certificationImages must be a positive integer, got ${settings.certificationImages}`);
    return new SelectionCheck(split, inputShape, await correctness(unpruned, split, inputShape), settings);
  }

  /**
   * The model's point drop on the selection split, with the bound the
   * certification split would give it (`certificationBound`). `known`: the
   * model's answers as its fine-tune last read them; used when they were read
   * on this split, saving a pass over it.
   */
  async check(model: tf.LayersModel, known?: SplitAnswers): Promise<MeasuredDrop> {
    const right = known?.split === this.split ? known.right : await correctness(model, this.split, this.inputShape);
    const { certificationImages, confidence } = this.settings;
    return { accuracy: accuracyOf(right), ...certificationBound(pairedCounts(this.reference, right), certificationImages, confidence) };
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

export interface ChoiceSettings extends BoundSettings {
  /** Images of the certification split: a candidate's margin is the one it would get there. */
  certificationImages: number;
}

/**
 * The drop of `counts` (points) and the bound the certification split would
 * give it: the point drop plus the margin of a split of `images` images with
 * the same rates of n10 and n01, at `confidence`. Not a confidence bound on
 * the choice data (the choice reads them); the prediction of what certifies.
 */
export function certificationBound(counts: PairedCounts, images: number, confidence: number): BoundedDrop {
  const scaled = { n: images, n10: Math.round((counts.n10 * images) / counts.n), n01: Math.round((counts.n01 * images) / counts.n) };
  const scaledDrop = (100 * (scaled.n10 - scaled.n01)) / images;
  const margin = 100 * dropUpperBound(scaled, 1 - confidence) - scaledDrop;
  const drop = (100 * (counts.n10 - counts.n01)) / counts.n;
  return { ...counts, drop, upperBound: drop + margin, confidence };
}

/**
 * Fixed-sequence testing of a path: the index of the last model before the
 * first whose bound exceeds the tolerance (-1: none certifies). The bounds
 * must come from images no choice of the path read, and the order must be
 * fixed before they are read; then the chance that the chosen model loses
 * more than b is at most 1 - c with no correction for the path's length.
 */
export function fixedSequence(upperBounds: number[], tolerance: number): number {
  const first = upperBounds.findIndex((bound) => bound > tolerance);
  return (first === -1 ? upperBounds.length : first) - 1;
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
    const measured: (MeasuredDrop & { label: string })[] = [];
    const answers: Uint8Array[] = [];
    for (const { label, model } of path) {
      const { right, ...drop } = await this.measure(model, this.settings.confidence);
      measured.push({ label, ...drop });
      answers.push(right);
    }
    const chosen = fixedSequence(
      measured.map((m) => m.upperBound),
      this.settings.tolerance,
    );
    const checks: CertificationCheck[] = measured.map((m, i) => ({ ...m, certified: i <= chosen }));
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
 * The disagreement a pruned model within b is expected to have with the
 * unpruned one: a third of the unpruned model's error rate, and at least b.
 * Measured on the certified compare rows: 2.1-2.8% on vgg-small and
 * resnet-small (errors 7.5% and 8.9%), 0.15-1.15% on LeNet-5 (0.4-0.9%) at b = 1.
 */
export const expectedDisagreement = (unprunedErrorRate: number, tolerance: number) => Math.max(unprunedErrorRate / 3, tolerance / 100);

/**
 * One line when the certification split is too small for a useful bound: a
 * pruned model with the expected disagreement (`expectedDisagreement`) gets
 * a margin over half of b, so most of the tolerance goes to the bound. Names
 * the number of certification images that would bring it to b / 2, and the
 * tolerance these images can certify with half of it left to pruning.
 * Undefined when the split is large enough.
 */
export function boundAdvice(certificationImages: number, unprunedErrorRate: number, settings: BoundSettings): string | undefined {
  const { tolerance, confidence } = settings;
  const marginAt = (b: number, n = certificationImages) => boundMargin(n, expectedDisagreement(unprunedErrorRate, b), confidence);
  const margin = marginAt(tolerance);
  if (margin <= tolerance / 2) return undefined;
  // Margins shrink as 1 / sqrt(images): a first guess, then doubling and bisection in hundreds of images.
  const fits = (hundreds: number) => marginAt(tolerance, 100 * hundreds) <= tolerance / 2;
  const hundreds = smallestPassing(Math.ceil((certificationImages * (margin / (tolerance / 2)) ** 2) / 100), fits, 10_000);
  // The smallest b (the one asked plus k half points, under 100) whose margin is at most b / 2 (the margin grows at most as the root of b, b / 2 linearly).
  const top = Math.floor((99.5 - tolerance) * 2);
  const halfPoints = smallestPassing(1, (k) => marginAt(tolerance + k / 2) <= (tolerance + k / 2) / 2, top);
  const supports = halfPoints === undefined ? 'no tolerance under 100 points' : `a tolerance of ${tolerance + halfPoints / 2} points`;
  return (
    `bounds: with ${certificationImages.toLocaleString('en-US')} certification images, a pruned model that disagrees with the unpruned one on ${(100 * expectedDisagreement(unprunedErrorRate, tolerance)).toFixed(1)}% of them ` +
    `gets an upper bound ${margin.toFixed(2)} points above its drop, against b = ${tolerance}, more than half of it; these images can certify ${supports} with half of it left to pruning, ` +
    `and ${hundreds === undefined ? 'more than 1,000,000' : `about ${(100 * hundreds).toLocaleString('en-US')}`} certification images would certify b = ${tolerance} so (more validation images: a val/ folder, or --validation-size when the baseline is trained)`
  );
}

/** The smallest k in [1, top] with passes(k), by doubling from `start` then bisection (passes is monotone); undefined when none does. */
function smallestPassing(start: number, passes: (k: number) => boolean, top: number): number | undefined {
  let [low, high] = [0, Math.min(Math.max(1, start), top)];
  while (!passes(high)) {
    if (high >= top) return undefined;
    [low, high] = [high, Math.min(2 * high, top)];
  }
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (passes(middle)) high = middle;
    else low = middle;
  }
  return high;
}
