/**
 * Errors a user can cause or act on: bad input, a package that is not
 * installed, a run that cannot be resumed. The CLI prints a UserError as one
 * line and exits 1; anything else is a bug and prints its stack. Each
 * subclass names an area, so a caller of the library can tell them apart.
 */
export class UserError extends Error {}

/** A backend that is not installed or cannot start. */
export class BackendError extends UserError {}
/** A data file or folder that cannot be read as images and labels. */
export class DataError extends UserError {}
/** A model file, zoo name or model that autoprune cannot use. */
export class ModelError extends UserError {}
/** A model whose channels cannot be traced (an unknown layer, an unsupported axis). */
export class GraphError extends UserError {}
/** A keep plan that does not fit the model. */
export class PruneError extends UserError {}
/** A criterion that cannot score this model or group. */
export class CriterionError extends UserError {}
/** The criterion cannot score this model at all (bn-scale without BatchNorm): a compare lists it as not applicable, not as failed. */
export class NotApplicableError extends CriterionError {}
/** A config field out of range, or a config that contradicts its baseline. */
export class ConfigError extends UserError {}
/** A validation split too small for the reward subset, the selection and the certification splits. */
export class HoldoutError extends UserError {}
/** A run folder or record that cannot be used (missing, unreadable, locked, already finished). */
export class RunError extends UserError {}
/** A latency target that cannot time this model. */
export class LatencyError extends UserError {}
/** A report path that cannot be written. */
export class ReportPathError extends UserError {}
/** A scoring worker that failed (the message names the way round it). */
export class ScoringError extends UserError {}
/** A combination of command-line options that does not make sense. */
export class UsageError extends UserError {}

/** A run stopped on request (Ctrl-C, SIGTERM) between two steps of its work: not a failure, and not the user's error; the run is recorded as interrupted. */
export class InterruptedError extends Error {}
