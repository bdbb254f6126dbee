/** A combination of options that does not make sense: printed as one line. */
export class UsageError extends Error {}
