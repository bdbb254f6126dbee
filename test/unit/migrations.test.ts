import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS, migrateRecord, RECORD_VERSION } from '../../src/run/migrations.js';
import { parsePruneConfig } from '../../src/run/config.js';
import { readRunRecord, type RunRecord } from '../../src/run/records.js';
import { checkedRecord, listedRecord } from '../../src/run/results.js';
import { RunError } from '../../src/errors.js';

const unversioned = (command: string, config: Record<string, unknown>) => ({
  id: '20261120-101010-prune-lenet5-mnist-abcd',
  command,
  status: 'interrupted',
  createdAt: '2026-11-20T10:10:10Z',
  updatedAt: '2026-11-20T10:10:10Z',
  config,
  backend: 'wasm',
  result: {},
});

describe('run record migrations', () => {
  it('has one migration per version step', () => {
    expect(MIGRATIONS).toHaveLength(RECORD_VERSION);
  });

  it('0 -> 1: a config written before fall-back points, the bound room and BatchNorm re-estimation keeps the behaviour of its version; a recent one is untouched', () => {
    const current = parsePruneConfig({});
    const { batchNormImages: _, ...oldFinetune } = current.finetune;
    const { batchNormImages: __, ...oldFinal } = current.finalFinetune;
    const { fallbackSteps: ___, budget, ...rest } = current;
    const { boundRoom: ____, ...oldBudget } = budget;
    const old = migrateRecord(unversioned('prune', { ...rest, budget: oldBudget, finetune: oldFinetune, finalFinetune: oldFinal }), 'run.json');
    const resumed = parsePruneConfig(old.config as Record<string, unknown>);
    expect([resumed.finetune.batchNormImages, resumed.finalFinetune.batchNormImages, resumed.fallbackSteps, resumed.budget.boundRoom]).toEqual([
      0,
      0,
      0,
      false,
    ]);
    const recent = parsePruneConfig(migrateRecord(unversioned('compare', current), 'run.json').config as Record<string, unknown>);
    expect(recent).toEqual(current);
  });

  it("0 -> 1: a `baseline` run is a criterion run; a train run's config is left as it was", () => {
    expect(migrateRecord(unversioned('baseline', { model: 'lenet5' }), 'run.json')).toMatchObject({
      command: 'criterion',
      config: { model: 'lenet5' },
      schemaVersion: 1,
    });
    expect(migrateRecord(unversioned('train', { model: 'lenet5' }), 'run.json').config).toEqual({ model: 'lenet5' });
  });

  it('reads an old record from disk in the current layout, and refuses one a newer version wrote, in one line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'autoprune-migrations-'));
    const file = join(dir, 'run.json');
    writeFileSync(file, JSON.stringify(unversioned('baseline', {})));
    expect(readRunRecord(file)).toMatchObject({ schemaVersion: RECORD_VERSION, command: 'criterion' });
    writeFileSync(file, JSON.stringify({ ...unversioned('prune', {}), schemaVersion: RECORD_VERSION + 1 }));
    expect(() => readRunRecord(file)).toThrow(
      new RunError(
        `${file}: written by a newer autoprune (record version ${RECORD_VERSION + 1}; this one reads up to ${RECORD_VERSION}): upgrade autoprune to read it`,
      ),
    );
  });

  it("reads the rows of every compare committed with the benchmarks (bench/results), as `runs`, `show` and `resume` read a compare record's", () => {
    // A compare's results.json holds the unpruned model's numbers and the rows (the ablation's and latency tables' files are other things).
    const compares = readdirSync(join('bench', 'results'))
      .filter((f) => f.endsWith('.json'))
      .map((name) => ({ name, file: join('bench', 'results', name), results: JSON.parse(readFileSync(join('bench', 'results', name), 'utf8')) }))
      .filter(({ results }) => results.unpruned !== undefined);
    expect(compares.length).toBeGreaterThan(25);
    for (const { name, file, results } of compares) {
      const { rows } = results;
      const record = migrateRecord(unversioned('compare', {}), file) as unknown as RunRecord;
      expect(() => listedRecord({ ...record, result: { rows } }, file), name).not.toThrow();
      expect(() => checkedRecord({ ...record, result: { rows } }, file), name).not.toThrow();
    }
  });
});
