/**
 * autoprune as a library: everything the CLI does, callable on models and
 * data in memory. The CLI (src/cli) is a shell over these.
 *
 *   import { loadDataset, loadModel, prune, selectBackend } from 'autoprune';
 *   await selectBackend();
 *   const data = loadDataset('mnist');
 *   const { model, summary } = await prune(await loadModel('model.json'), data, { tolerance: 1 });
 */

// Errors: those a user can act on are UserErrors (the CLI prints them as one line), the subclass naming the area; InterruptedError is a stop on request.
export {
  BackendError,
  ConfigError,
  CriterionError,
  DataError,
  GraphError,
  HoldoutError,
  InterruptedError,
  LatencyError,
  ModelError,
  NotApplicableError,
  PruneError,
  ReportPathError,
  RunError,
  ScoringError,
  UsageError,
  UserError,
} from './errors.js';

// Backends: the fastest available (tfjs-node-gpu, tfjs-node, wasm with autoprune's training kernels).
export { BACKEND_NAMES, type BackendChoice, type BackendName, type BackendOptions, selectBackend } from './backend/backend.js';

// Data: the bundled IDX data sets, folders of labelled images, CIFAR-10, split into train / validation / test.
export { DATASET_NAMES, type Dataset, type LoadOptions, loadDataset, type PixelScaling, seededPermutation, type Split, subsetSplit } from './data/datasets.js';
export { type ImageFolderOptions, loadImageFolder } from './data/image-folder.js';
export { type DataSource, dataDigest, dataFiles, loadData } from './data/load.js';

// Models: the zoo, loading and saving TF.js layers models.
export { cloneModel, loadModel, modelFilesBytes, saveModel, weightsDtypeOf } from './models/io.js';
export { WEIGHTS_DTYPES, type WeightsDtype } from './models/quantize.js';
export { hasUnknownInputSize, withInputShape } from './models/input-shape.js';
export { flattenModel, isNested } from './models/flatten.js';
export { buildZooModel, isZooName, ZOO_NAMES, type ZooName } from './models/zoo.js';

// What is coupled: the dependency graph and its channel groups.
export { buildGraph, type ChannelGroup, checkPrunable, DependencyGraph, type GroupMember } from './prune/graph.js';
// One place per layer type (how channels pass, which weight axes follow them, MACs), extensible.
export { type LayerType, layerType, registerLayerType } from './prune/layer-types.js';
// How to prune: physical removal of channels.
export { type KeepPlan, pruneModel, validatePlan } from './prune/surgery.js';
// What it costs: MACs, parameters, latency, size on disk.
export { layerMacs, measureLatency, measureSpeedup, type ModelCost, modelCost, reduction, type Speedup, sizeOnDisk } from './prune/metrics.js';
export { formatReport, type PruneReport, pruneReport, summariseModel } from './run/report.js';

// What to prune: criteria score each group's channels.
export {
  BUILTIN_CRITERIA,
  CRITERIA,
  type Criterion,
  type CriterionName,
  criterionOf,
  observedCriteria,
  registerCriterion,
  type GroupScores,
  type ScoreContext,
  scoreGroups,
  topChannels,
} from './heuristics/criteria.js';
// Hand-made policies: a criterion to a ratio or to a tolerance, and per-group sensitivity analysis.
export {
  DEFAULT_HEURISTIC_CONFIG,
  DEFAULT_SEARCH,
  type HeuristicConfig,
  type HeuristicEvent,
  pruneToRatio,
  pruneToTolerance,
  type ToleranceResult,
  type ToleranceSearch,
} from './heuristics/pipeline.js';
export { DEFAULT_SENSITIVITY_CONFIG, pruneBySensitivity, type SensitivityConfig, type SensitivityResult } from './heuristics/sensitivity.js';

// Training and fine-tuning.
export { DEFAULT_TRAIN_CONFIG, evaluateAccuracy, recalibrateBatchNorm, type TrainConfig, trainModel } from './train/train.js';

// The learned policy: try-and-learn, its config, its event stream and where it keeps its progress.
export { describeConfig, parsePruneConfig, type PruneConfig, PruneConfigSchema } from './run/config.js';
export { prune, type PruneHooks, type PruneOptions } from './run/prune.js';
export { folderStore, MemoryStore, type RunStore } from './run/store.js';
export { type GroupDecision, type PruneResult, type RunEvent, type RunSummary, tryAndLearn, type TryAndLearnInput } from './run/try-and-learn.js';
// What a run will take (timed steps x its plan), and where a run's time went.
export { estimateAgentRun, formatEstimate, type Range, type RunEstimate, type StepCosts, timeSteps } from './run/estimate.js';
export { formatPhases, type Phase, PhaseClock, PHASES, type PhaseSeconds, timed, withPhaseClock } from './phases.js';
// Run folders' records: each command's result type, checked against its schema when read.
export { listRuns, type RecordedConfig, Run, type RunRecord, type StopSignals } from './run/records.js';
export { type CriterionResult, type CheckedRunRecord, checkedRecord, listCheckedRuns, openRun, type RunCommand, type RunResults } from './run/results.js';
// The same in run folders (what the CLI's commands call): a baseline and its data, training, pruning, resuming.
export { type ModelSourceOptions, trainedModelAndData } from './run/baseline-source.js';
export { type CriterionRunOptions, criterionRun } from './run/criterion-run.js';
export { type RunLog, SILENT_LOG } from './run/log.js';
export { lineView } from './run/event-lines.js';
export { pruneRun, resumeRun, type RunContext } from './run/prune-run.js';
export { type TrainOptions, type TrainResult, trainRun } from './run/train-run.js';

// Every method behind one interface (the agent, a criterion, sensitivity analysis), ended alike by finishMethod.
export {
  type AgentMethodOptions,
  type AgentView,
  agentMethod,
  criterionMethod,
  type CriterionMethodOptions,
  finishMethod,
  type FinishOptions,
  type MethodInputs,
  type MethodSearch,
  type MethodSettings,
  methodSettings,
  type PruningMethod,
  sensitivityMethod,
} from './run/methods.js';
// The comparison: every method from one baseline at one tolerance; its results (results.json), verdict and HTML report.
export { type CompareOptions, compare, formatResults, redrawReport, resumeCompare } from './compare/compare.js';
export {
  type CompareResults,
  type CompareRunResult,
  mergeResults,
  methodLabel,
  METHODS,
  type Method,
  mostFlopsRemoved,
  type ResultRow,
  verdict,
} from './run/compare-results.js';
export { renderReport, writeReport } from './compare/report-html.js';
// A compare's method as a job (what compare --jobs hands each worker process, plain JSON): run it here, or in a process of your own with runJobProcess (startJobProcess for its raw events).
export {
  type CompareJob,
  type JobCommand,
  type JobEnding,
  type JobEvent,
  type JobsOptions,
  runInJobs,
  runJobProcess,
  startJobProcess,
} from './compare/jobs.js';
export { runJob } from './compare/job-runner.js';
