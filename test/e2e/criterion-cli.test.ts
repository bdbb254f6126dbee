import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers.js';

const autoprune = (args: string[]) => spawnSync('node', ['bin/autoprune.mjs', '--no-tui', ...args], { encoding: 'utf8' });
const record = (runsDir: string, id: string) => JSON.parse(readFileSync(join(runsDir, id, 'run.json'), 'utf8'));

describe('autoprune criterion', () => {
  const runsDir = tempDir();
  let trainRun: string;

  beforeAll(() => {
    const train = autoprune([
      '--runs-dir',
      runsDir,
      'train',
      '--model',
      'lenet5',
      '--dataset',
      'mnist',
      '--epochs',
      '1',
      '--train-limit',
      '640',
      '--validation-size',
      '500',
    ]);
    expect(train.status).toBe(0);
    trainRun = train.stdout.trim();
  });

  it('prunes the newest trained zoo model to a ratio and reports and records everything', () => {
    const { status, stdout, stderr } = autoprune([
      '--runs-dir',
      runsDir,
      'criterion',
      '--model',
      'lenet5',
      '--dataset',
      'mnist',
      '--validation-size',
      '500',
      '--criterion',
      'l2',
      '--ratio',
      '0.5',
      '--finetune-images',
      '256',
    ]);
    expect(stderr).toMatch(new RegExp(`baseline: lenet5 \\(trained in run ${trainRun}\\)`));
    expect(stderr).toMatch(/parameters 431,080 -> 109,295 \(compression 3\.94x\)/);
    expect(stderr).toMatch(/theoretical speedup 3\.55x/);
    expect(stderr).toMatch(/test accuracy [\d.]+% -> [\d.]+%/);
    expect(status).toBe(0);
    const r = record(runsDir, stdout.trim());
    expect(r.status).toBe('done');
    expect(r.result.steps).toHaveLength(1);
    expect(r.result.steps[0].kept).toEqual({ 0: 10, 1: 25, 2: 250 });
    expect(r.result.report.pruned.params).toBe(109_295);
    expect(r.result.report.measuredSpeedup.batch256).toBeGreaterThan(1);
    expect(readdirSync(join(runsDir, stdout.trim(), 'model'))).toEqual(['model.json', 'weights.bin']);
  });

  it('searches the tolerance up from one resolution step with a data-driven criterion, global ranking and an AGP schedule, recording every probe', () => {
    const { status, stdout, stderr } = autoprune([
      '--runs-dir',
      runsDir,
      'criterion',
      '--model',
      trainRun,
      '--dataset',
      'mnist',
      '--validation-size',
      '500',
      '--criterion',
      'taylor',
      '--ranking',
      'global',
      '--schedule',
      'agp',
      '--steps',
      '2',
      '--tolerance',
      '3',
      '--probes',
      '3',
      '--search-start',
      'low',
      '--finetune-images',
      '256',
      '--scoring-samples',
      '128',
    ]);
    expect(status).toBe(0);
    const r = record(runsDir, stdout.trim());
    expect(r.result.probes.length).toBeGreaterThanOrEqual(1);
    expect(stderr).toMatch(/doubling from one resolution step, then bisection to a resolution of 0\.010/);
    expect(stderr).toMatch(/probe 1: ratio 1\.0% -> validation [\d.]+%, drop -?[\d.]+ points, bound if certified -?[\d.]+: (within|beyond) tolerance/);
    for (const probe of r.result.probes) expect(probe.withinTolerance).toBe(probe.upperBound <= 3);
    // Each probe that passes doubles the ratio until one fails.
    const [first, second] = r.result.probes;
    if (first.withinTolerance && second !== undefined) expect(second.ratio).toBeCloseTo(0.02, 12);
    // Certified on the other half of the validation images, which no probe read.
    expect(r.result.certification.images).toBe(250);
    expect(stderr).toMatch(/^(certified|not certified): .* on 250 images no choice has seen/m);
    expect(r.result.report.validationDrop).toBeLessThanOrEqual(3);
  });

  it.each([
    [['--ratio', '0.5', '--tolerance', '1'], /give exactly one of --ratio R and --tolerance POINTS/],
    [[], /give exactly one of --ratio R and --tolerance POINTS/],
    [['--ratio', '1'], /--ratio <r>' argument '1' is invalid. expected a number >= 0 and < 1/],
    [['--tolerance', '0'], /--tolerance <points>' argument '0' is invalid. expected a number > 0 and < 100/],
    [['--tolerance', '100'], /--tolerance <points>' argument '100' is invalid. expected a number > 0 and < 100/],
    [
      ['--ratio', '0.3', '--criterion', 'magnitude'],
      /argument 'magnitude' is invalid. Allowed choices are l1, l2, fpgm, apoz, mean-activation, taylor, bn-scale, random/,
    ],
    [['--ratio', '0.3', '--ranking', 'layerwise'], /Allowed choices are local, global/],
    [['--ratio', '0.3', '--validation-size', '600'], /validationSize: 600 is more than the baseline's validation split \(500 images, from its train record\)/],
    [['--ratio', '0.3', '--schedule', 'cubic'], /Allowed choices are one-shot, iterative, agp/],
    [
      ['--ratio', '0.3', '--criterion', 'bn-scale'],
      /criterion bn-scale: no BatchNormalization with a scale \(gamma\) follows any prunable group: group 0 \(conv1\), group 1 \(conv2\), group 2 \(fc1\)/,
    ],
  ])('rejects %j with a clear error and no new run', (extra, message) => {
    const before = readdirSync(runsDir).length;
    const { status, stderr } = autoprune(['--runs-dir', runsDir, 'criterion', '--model', 'lenet5', '--dataset', 'mnist', '--validation-size', '500', ...extra]);
    expect(status).not.toBe(0);
    expect(stderr).toMatch(message);
    expect(readdirSync(runsDir).length).toBe(before);
  });
});
