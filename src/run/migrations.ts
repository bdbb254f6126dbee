/**
 * Run records carry the version of their layout (`schemaVersion`). Reading
 * an older record goes through MIGRATIONS, one small function per version
 * step, so that every reader sees today's layout and a resumed run behaves
 * as the version that wrote it did: a field added since takes the value that
 * matches the old behaviour, not today's default. When a change needs one,
 * add a migration and raise RECORD_VERSION; never fix an old record where it
 * is read.
 */
import { RunError } from '../errors.js';

/** The layout run records are written in. */
export const RECORD_VERSION = 1;

type RawRecord = Record<string, unknown>;
type RawObject = Record<string, unknown> | undefined;

/**
 * 0 -> 1 (records without a version, before 2026-12-07): `criterion` runs
 * were recorded as `baseline` runs; a prune or compare config written before
 * the fall-back points (fallbackSteps), the reward's aim at the bound's room
 * (budget.boundRoom) or BatchNorm re-estimation in fine-tuning
 * (batchNormImages) ran without them.
 */
function fromUnversioned(record: RawRecord): RawRecord {
  const command = record.command === 'baseline' ? 'criterion' : record.command;
  if (command !== 'prune' && command !== 'compare') return { ...record, command };
  const config = (record.config ?? {}) as RawRecord;
  const withoutBatchNormImages = (group: unknown) => ({ batchNormImages: 0, ...(group as RawObject) });
  return {
    ...record,
    command,
    config: {
      fallbackSteps: 0,
      ...config,
      budget: { boundRoom: false, ...(config.budget as RawObject) },
      finetune: withoutBatchNormImages(config.finetune),
      finalFinetune: withoutBatchNormImages(config.finalFinetune),
    },
  };
}

/** MIGRATIONS[n] takes a record of version n to version n + 1. */
export const MIGRATIONS: ((record: RawRecord) => RawRecord)[] = [fromUnversioned];

/** `record` (as read from `file`) in today's layout; a RunError when a newer autoprune wrote it. */
export function migrateRecord(record: RawRecord, file: string): RawRecord {
  const version = record.schemaVersion ?? 0;
  if (!(typeof version === 'number' && Number.isInteger(version) && version >= 0))
    throw new RunError(`${file}: not a run record (schemaVersion: expected a whole number, got ${JSON.stringify(version)})`);
  if (version > RECORD_VERSION)
    throw new RunError(
      `${file}: written by a newer autoprune (record version ${version}; this one reads up to ${RECORD_VERSION}): upgrade autoprune to read it`,
    );
  let migrated = record;
  for (let v = version; v < RECORD_VERSION; v++) migrated = MIGRATIONS[v](migrated);
  return { ...migrated, schemaVersion: RECORD_VERSION };
}
