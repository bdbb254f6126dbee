/**
 * The end of every method, in one place (the agent's run, a criterion's run,
 * each row of a compare): the final fine-tune (kept only if it does not lower
 * the selection split's accuracy), the final model and its path quantized as
 * they will be saved, certified along the path on the certification split,
 * the certified model saved and reported, and a final model that did not
 * certify saved beside it, never hidden.
 */
import type * as tf from '@tensorflow/tfjs';
import { type Certification, finalCertified, type UncertifiedModel } from '../certify/certification.js';
import { type Certifier, type PathModel, uncertifiedNumbers } from '../certify/check.js';
import type { Dataset } from '../data/datasets.js';
import { roundTripWeights, type WeightsDtype } from '../models/quantize.js';
import { evaluateAccuracy, type TrainConfig, type TrainHooks, trainModel } from '../train/train.js';
import { type PruneReport, type PruneReportOptions, pruneReport } from './report.js';

export interface FinishInput {
  /** The method's final model (fine-tuned in place by finalFinetune). */
  final: tf.LayersModel;
  /** The final fine-tune, on data.train, chosen on data.validation; skipped when nothing was pruned or it has no epochs. */
  finalFinetune?: { config: TrainConfig; hooks?: TrainHooks };
  /** The models along the method's path, least pruned first: certified in order before the final one. */
  path: PathModel[];
  /** False when the method pruned nothing: there is no path to certify and the final model is the result. */
  pruned: boolean;
  baseline: tf.LayersModel;
  /** Absent: nothing to certify (a fixed ratio has no tolerance); the final model is the result. */
  certifier?: Certifier;
  /** The validation split is the selection split (the uncertified model's numbers); the report reads the test split. */
  data: Dataset;
  weightsDtype?: WeightsDtype;
  report: Omit<PruneReportOptions, 'weightsDtype'>;
  /** Saves a model where the caller keeps it (the certified one, or the final one that did not certify) and returns its model.json path. */
  save: (model: tf.LayersModel, which: 'certified' | 'uncertified') => Promise<string>;
}

export interface FinishedModel {
  /** `final`, a model of `path` or `baseline`: the caller still owns (and disposes) them. */
  certified: tf.LayersModel;
  modelPath: string;
  certification?: Certification;
  uncertified?: UncertifiedModel;
  report: PruneReport;
}

export async function finishPrunedModel(input: FinishInput): Promise<FinishedModel> {
  const { final, path, baseline, certifier, data, weightsDtype } = input;
  if (input.pruned && input.finalFinetune !== undefined && input.finalFinetune.config.epochs > 0)
    await finetuneIfBetter(final, data, input.finalFinetune.config, baseline, input.finalFinetune.hooks);
  // Every model is certified and reported as it is saved: quantized where the weights will be.
  if (weightsDtype !== undefined) for (const m of [final, ...path.map((p) => p.model)]) roundTripWeights(m, weightsDtype);
  const certification = certifier && (await certifier.certify(input.pruned ? [...path, { label: 'final', model: final }] : []));
  const certified =
    certification === undefined || finalCertified(certification) ? final : certification.chosen >= 0 ? path[certification.chosen].model : baseline;
  const modelPath = await input.save(certified, 'certified');
  const uncertified =
    certification === undefined || certified === final
      ? undefined
      : { modelPath: await input.save(final, 'uncertified'), ...(await uncertifiedNumbers(final, baseline, data, certification)) };
  const report = await pruneReport(baseline, certified, data, { ...input.report, weightsDtype });
  return { certified, modelPath, certification, uncertified, report };
}

/** Fine-tunes `model` in place (`unpruned` the teacher of distillation), keeping the result only if its selection-split accuracy is at least what it was. */
async function finetuneIfBetter(model: tf.LayersModel, data: Dataset, config: TrainConfig, unpruned: tf.LayersModel, hooks?: TrainHooks): Promise<void> {
  const before = await evaluateAccuracy(model, data.validation, data.inputShape);
  const weights = model.getWeights().map((w) => w.clone());
  try {
    const tuned = await trainModel(model, data, { ...config, restoreBest: true }, hooks, unpruned);
    if (tuned.validationAccuracy < before) model.setWeights(weights);
  } finally {
    for (const w of weights) w.dispose();
  }
}
