/**
 * A method's certification as data: which models of its path certified on
 * the certification split, the one the user gets, and the sentences that say
 * so. No tensors here (the dashboard and the report read it).
 */
import { type BoundedDrop, dropInterval, pairedCounts } from './bound.js';

/** A model's accuracy on a split and its drop against the unpruned model's there, with the bound. */
export interface MeasuredDrop extends BoundedDrop {
  accuracy: number;
}

/** One model of a method's path, measured on the certification split. */
export interface CertificationCheck extends MeasuredDrop {
  /** Which model: "after group 2", "probe 3 (ratio 0.25)", "final". */
  label: string;
  /** Certified: its bound, and the bound of every model before it on the path, is within b. */
  certified: boolean;
}

export interface Certification {
  tolerance: number;
  confidence: number;
  /** Images of the certification split. */
  images: number;
  /** The unpruned model's accuracy there. */
  baseAccuracy: number;
  /** The models the method passed through, least pruned first; the last is its final model. */
  path: CertificationCheck[];
  /** Index into path of the model the user gets: the last certified one (-1: none, the unpruned model). */
  chosen: number;
  /** Which certification images the chosen model gets right (base64 bits, split order): pairs two methods on the same images. */
  correct: string;
}

/** The model the user gets from a certified path: its check, or the unpruned model's (nothing lost) when none certified. */
export function certifiedCheck(c: Certification): CertificationCheck {
  if (c.chosen >= 0) return c.path[c.chosen];
  return { label: 'unpruned', accuracy: c.baseAccuracy, n: c.images, n10: 0, n01: 0, drop: 0, upperBound: 0, confidence: c.confidence, certified: true };
}

/** Whether the method's own final model is the one certified. */
export const finalCertified = (c: Certification) => c.path.length === 0 || c.chosen === c.path.length - 1;

/** One sentence: certified or not, with the numbers, and what the user gets instead. */
export function describeCertification(c: Certification): string {
  const level = `${+(100 * c.confidence).toFixed(1)}%`;
  const numbers = (x: CertificationCheck) => `drop ${x.drop.toFixed(2)} points, ${level} upper bound ${x.upperBound.toFixed(2)}`;
  const on = `on ${c.images.toLocaleString('en-US')} images no choice has seen`;
  const final = c.path.at(-1);
  if (final === undefined) return `certified: nothing pruned, nothing lost`;
  if (finalCertified(c)) return `certified: ${numbers(final)} <= ${c.tolerance}, ${on}`;
  const first = c.path.find((x) => !x.certified)!;
  const why =
    first === final
      ? `its bound exceeds b = ${c.tolerance}`
      : `${first.label}, earlier on its path, failed first (upper bound ${first.upperBound.toFixed(2)} > ${c.tolerance}) and the path is tested in order`;
  const instead = c.chosen >= 0 ? `the model ${c.path[c.chosen].label} (${numbers(c.path[c.chosen])})` : 'the unpruned model';
  return `not certified: the final model's ${numbers(final)} ${on}; ${why}; certified instead: ${instead}`;
}

/** A final model that did not certify: saved beside the certified one, with its numbers and the reason. */
export interface UncertifiedModel {
  modelPath: string;
  /** Why it is not the model the user gets, in one sentence. */
  reason: string;
  theoreticalSpeedup: number;
  compressionRatio: number;
  /** Selection-split and test accuracy (fractions). */
  validationAccuracy: number;
  testAccuracy: number;
}

/** Bits as base64, eight images a byte. */
export function packBits(bits: Uint8Array): string {
  const bytes = new Uint8Array(Math.ceil(bits.length / 8));
  bits.forEach((bit, i) => {
    if (bit) bytes[i >> 3] |= 1 << (i & 7);
  });
  return Buffer.from(bytes).toString('base64');
}

export function unpackBits(packed: string, count: number): Uint8Array {
  const bytes = Buffer.from(packed, 'base64');
  return Uint8Array.from({ length: count }, (_, i) => (bytes[i >> 3] >> (i & 7)) & 1);
}

/**
 * Two certified models on the same certification images: the accuracy of
 * `a` minus that of `b` (points) with its two-sided interval at `confidence`;
 * distinguishable when the interval excludes 0.
 */
export function pairedDifference(
  a: Pick<Certification, 'correct' | 'images'>,
  b: Pick<Certification, 'correct' | 'images'>,
  confidence: number,
): { difference: number; interval: [number, number]; distinguishable: boolean } {
  if (a.images !== b.images) throw new Error(`certification splits of ${a.images} and ${b.images} images cannot be paired`);
  // b's drop against a: a right and b wrong, minus the reverse, is a's lead.
  const counts = pairedCounts(unpackBits(a.correct, a.images), unpackBits(b.correct, b.images));
  const [low, high] = dropInterval(counts, confidence).map((x) => 100 * x) as [number, number];
  return { difference: (100 * (counts.n10 - counts.n01)) / counts.n, interval: [low, high], distinguishable: low > 0 || high < 0 };
}

/** The test split's drop with its two-sided interval, points (reported, never used to choose). */
export function testDrop(unprunedRight: Uint8Array, prunedRight: Uint8Array, confidence: number): { drop: number; interval: [number, number] } {
  const counts = pairedCounts(unprunedRight, prunedRight);
  return { drop: (100 * (counts.n10 - counts.n01)) / counts.n, interval: dropInterval(counts, confidence).map((x) => 100 * x) as [number, number] };
}
