import { describe, expect, it } from 'vitest';
import { parsePruneConfig, type PruneConfig } from '../../src/run/config.js';
import { fitToBudget, type RunEstimate } from '../../src/run/estimate.js';
import { ConfigError } from '../../src/errors.js';

/** A run whose time is linear in its settings: a second per candidate image, per fine-tuning image and per probe. */
function linearEstimate(c: PruneConfig): RunEstimate {
  const search = c.agent.maxIterations * c.agent.samplesPerIteration * c.rewardSamples * 1e-3;
  const finetunes = (c.relaxSteps + 1 + c.fallbackSteps) * (c.finetune.imagesPerEpoch ?? 60_000) * 1e-3 + (c.finalFinetune.imagesPerEpoch ?? 60_000) * 1e-3;
  const total = search + finetunes;
  return {
    search: [search / 2, search],
    finetunes: [finetunes, finetunes],
    checks: [0, 0],
    total: [total / 2, total],
    peakMemory: 1e8,
    costs: { forwardPerImage: 1e-3, trainBatch: 0.1, candidate: { groupId: 0, forwardPerImage: 1e-3, recovery: 0 }, seconds: 1 },
  };
}

describe('fitToBudget', () => {
  const config = parsePruneConfig({ agent: { minIterations: 50, maxIterations: 250 }, rewardSamples: 1000 });

  it('keeps the settings when the estimate fits', () => {
    const fitted = fitToBudget(linearEstimate, config, 1e6, 60_000);
    expect(fitted.config).toBe(config);
    expect(fitted.changes).toEqual(['the settings as given']);
  });

  it('scales the search first, then the reward subset, then the fine-tunes, and fits the high end', () => {
    const searchOnly = fitToBudget(linearEstimate, config, 1000, 60_000);
    // Fewer iterations fit: nothing else changes.
    expect(searchOnly.config.agent.maxIterations).toBeLessThan(250);
    expect(searchOnly.config.rewardSamples).toBe(1000);
    expect(searchOnly.config.finetune).toEqual(config.finetune);
    expect(searchOnly.estimate.total[1]).toBeLessThanOrEqual(1000);
    const tight = fitToBudget(linearEstimate, config, 150, 60_000);
    expect(tight.config.agent).toMatchObject({ minIterations: 10, maxIterations: 10 });
    expect(tight.config.rewardSamples).toBe(256);
    expect(tight.config.finetune.imagesPerEpoch).toBeLessThan(60_000);
    expect(tight.estimate.total[1]).toBeLessThanOrEqual(150);
    expect(tight.changes[0]).toBe('agent.minIterations 50 -> 10');
    expect(tight.changes).toContain(`finetune.imagesPerEpoch all -> ${tight.config.finetune.imagesPerEpoch}`);
  });

  it('refuses a budget even the cheapest settings miss, saying what would fit', () => {
    expect(() => fitToBudget(linearEstimate, config, 5, 60_000)).toThrow(ConfigError);
    expect(() => fitToBudget(linearEstimate, config, 5, 60_000)).toThrow(
      /^timeBudget 5s: the cheapest run its rule allows \(agent\.minIterations 50 -> 10, .*fallbackSteps 2 -> 1\) is estimated time .*; give at least \d+s$/,
    );
  });
});
