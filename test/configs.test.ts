import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, describeConfig, parsePruneConfig, PruneConfigSchema } from '../src/run/config.js';

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
  });

  it('names unknown and invalid fields', () => {
    expect(() => parsePruneConfig({ agent: { sampels: 3 } }, 'my.json')).toThrow(new ConfigError('my.json: unknown field agent.sampels'));
    expect(() => parsePruneConfig({ tolerance: 0 })).toThrow(/config: tolerance: Too small/);
    expect(() => parsePruneConfig({ finetune: { epochs: 'two' } })).toThrow(/finetune\.epochs: Invalid input: expected number/);
    // A hand-set reward tolerance would be silently ignored under the calibrated budget: it is refused there.
    expect(() => parsePruneConfig({ rewardTolerance: 3 })).toThrow(/rewardTolerance: is used only when budget\.calibrate is false/);
    expect(parsePruneConfig({ rewardTolerance: 3, budget: { calibrate: false } }).rewardTolerance).toBe(3);
    // The reward subset must leave images for the guarantee split.
    expect(() => parsePruneConfig({ validationSize: 1000, rewardSamples: 950 })).toThrow(/rewardSamples: must leave at least 100 of the validationSize images for the guarantee split/);
    expect(parsePruneConfig({ validationSize: 1000, rewardSamples: 900 }).rewardSamples).toBe(900);
  });
});
