import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeConfig, describeField, fieldDefault, parsePruneConfig, PruneConfigSchema, readConfigFile, setPath } from '../../src/run/config.js';
import { ConfigError } from '../../src/errors.js';

describe('run configs', () => {
  it.each(readdirSync('configs'))('configs/%s is valid', (file) => {
    const config = parsePruneConfig(JSON.parse(readFileSync(join('configs', file), 'utf8')), file);
    expect(config.tolerance).toBeGreaterThan(0);
  });

  it('gives every field a default and a description', () => {
    const empty = parsePruneConfig({});
    expect(empty.agent.samplesPerIteration).toBe(5);
    expect(empty.finetune.epochs).toBe(1);
    const lines = describeConfig();
    expect(lines.length).toBeGreaterThan(20);
    for (const line of lines) expect(line).toMatch(/^[\w.]+ \(default .*\): \S/);
    expect(Object.keys(PruneConfigSchema.shape).every((k) => lines.some((l) => l.startsWith(k)))).toBe(true);
    // Bounds are shown, so a value the schema would refuse is visible in --help.
    expect(lines.find((l) => l.startsWith('relaxSteps '))).toMatch(/^relaxSteps \(default 4; integer, >= 1, <= 20\): /);
    expect(lines.find((l) => l.startsWith('tolerance '))).toMatch(/^tolerance \(default 1; > 0, < 100\): /);
  });

  it("describes each setting once: the CLI's help reads the schema's description and default", () => {
    expect(describeField('finetune.epochs')).toBe('fine-tuning after each group is pruned: passes over the training images');
    expect(describeField('agent.maxIterations')).toBe('iterations at most per group');
    expect(fieldDefault('trainEpochs')).toBe(parsePruneConfig({}).trainEpochs);
    expect(fieldDefault('validationSize')).toBeUndefined();
    expect(() => describeField('agent.nope')).toThrow(/no config field agent\.nope/);
    // Wrapped to the terminal's width: compared with the whitespace folded.
    const help = spawnSync('node', ['bin/autoprune.mjs', 'prune', '--help'], { encoding: 'utf8' }).stdout.replace(/\s+/g, ' ');
    for (const [flag, field] of [
      ['--phi <kind>', 'phi'],
      ['--max-iterations <n>', 'agent.maxIterations'],
      ['--final-finetune-epochs <n>', 'finalFinetune.epochs'],
      ['--train-epochs <n>', 'trainEpochs'],
    ])
      expect(help).toContain(`${flag} ${describeField(field)}`);
  });

  it('names unknown and invalid fields', () => {
    expect(() => parsePruneConfig({ agent: { sampels: 3 } }, 'my.json')).toThrow(new ConfigError('my.json: unknown field agent.sampels'));
    expect(() => parsePruneConfig({ tolerance: 0 })).toThrow(/config: tolerance: Too small/);
    expect(() => parsePruneConfig({ finetune: { epochs: 'two' } })).toThrow(/finetune\.epochs: Invalid input: expected number/);
    // A hand-set reward tolerance would be silently ignored under the calibrated budget: it is refused there.
    expect(() => parsePruneConfig({ rewardTolerance: 3 })).toThrow(/rewardTolerance: is used only when budget\.calibrate is false/);
    expect(parsePruneConfig({ rewardTolerance: 3, budget: { calibrate: false } }).rewardTolerance).toBe(3);
    // The certification split must leave a selection split (which holds the reward subset).
    expect(() => parsePruneConfig({ validationSize: 1000, certificationSamples: 950 })).toThrow(
      /certificationSamples: with validationSize 1000: the validation split has 1000 images: 950 for certification leave 50 for selection, and each needs at least 100; lower certificationSamples \(--certification-samples\) to at most 900/,
    );
    expect(parsePruneConfig({ validationSize: 1000, certificationSamples: 900 }).certificationSamples).toBe(900);
    expect(() => parsePruneConfig({ validationSize: 150 })).toThrow(/give at least 200 validation images/);
    expect(() => parsePruneConfig({ confidence: 1 })).toThrow(/confidence: Too big/);
  });

  it('sets dotted fields safely: no prototype keys, no field inside a number', () => {
    const target: Record<string, unknown> = { tolerance: 1 };
    setPath(target, 'agent.hidden', 32, '--set agent.hidden=32');
    expect(target).toEqual({ tolerance: 1, agent: { hidden: 32 } });
    expect(() => setPath(target, 'tolerance.x', 1, '--set tolerance.x=1')).toThrow(
      new ConfigError('--set tolerance.x=1: tolerance is 1, not a group of fields'),
    );
    expect(() => setPath(target, '__proto__.polluted', 1, '--set __proto__.polluted=1')).toThrow(
      /--set __proto__\.polluted=1: "__proto__\.polluted" is not a config field/,
    );
    expect(() => setPath(target, 'agent.constructor', 1)).toThrow(ConfigError);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('names where each bad field came from: the file, a flag or --set', () => {
    const origins = new Map([
      ['agent.samplesPerIteration', '--set agent.samplesPerIteration=abc'],
      ['tolerance', '--tolerance 0'],
    ]);
    const input = { agent: { samplesPerIteration: 'abc', hidden: 'x' }, tolerance: 0 };
    const message = (() => {
      try {
        parsePruneConfig(input, 'my.json', origins);
      } catch (err) {
        return (err as Error).message;
      }
    })();
    expect(message?.split('; ').sort()).toEqual([
      expect.stringMatching(/^--set agent\.samplesPerIteration=abc: agent\.samplesPerIteration: /),
      expect.stringMatching(/^--tolerance 0: tolerance: Too small/),
      expect.stringMatching(/^my\.json: agent\.hidden: /),
    ]);
  });

  it('refuses a config file that is not a JSON object', () => {
    const dir = mkdtempSync(join(tmpdir(), 'autoprune-config-'));
    for (const [text, what] of [
      ['null', 'null'],
      ['[1]', 'an array'],
      ['3', 'number'],
    ]) {
      const file = join(dir, 'c.json');
      writeFileSync(file, text);
      expect(() => readConfigFile(file)).toThrow(new ConfigError(`${file}: expected a JSON object of config fields, got ${what}`));
    }
  });
});
