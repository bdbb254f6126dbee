import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers.js';

/**
 * autoprune as a user's dependency: a script outside the repository imports
 * the package by its name (package.json exports, the built dist/) and prunes
 * a model in memory, with no CLI and no run folder.
 */
describe('the package, imported by name', () => {
  const project = tempDir('autoprune-user-');

  beforeAll(() => {
    execFileSync('npm', ['run', 'build'], { stdio: 'ignore' });
    mkdirSync(join(project, 'node_modules'));
    symlinkSync(resolve('.'), join(project, 'node_modules', 'autoprune'));
  }, 120_000);

  it('trains a LeNet-5 and prunes it with the agent, in memory, and saves the pruned model', () => {
    // The README's API example at a tiny size: 2,000 training images, a few agent iterations; 1,000 images to choose on (300 of them the reward subset) and 1,000 to certify on.
    const script = `
      import { buildZooModel, DEFAULT_TRAIN_CONFIG, loadDataset, modelCost, prune, saveModel, selectBackend, trainModel } from 'autoprune';
      await selectBackend('wasm');
      const data = loadDataset('mnist', { validationSize: 2000, trainLimit: 2000, testLimit: 500 });
      const model = buildZooModel('lenet5', { inputShape: data.inputShape, numClasses: data.numClasses, seed: 0 });
      await trainModel(model, data, { ...DEFAULT_TRAIN_CONFIG, epochs: 1 });
      const groups = [];
      const { model: pruned, summary } = await prune(model, data, {
        tolerance: 4, rewardSamples: 300, evalBatchSize: 300,
        agent: { maxIterations: 4, minIterations: 2, patience: 2, samplesPerIteration: 3 },
        finetune: { imagesPerEpoch: 640 }, finalFinetune: { epochs: 1, imagesPerEpoch: 640 },
      }, { onEvent: (e) => { if (e.type === 'group-done') groups.push(e.decision.kept.length); } });
      await saveModel(pruned, 'pruned');
      console.log(JSON.stringify({ groups, before: modelCost(model), after: modelCost(pruned), report: summary.report, modelPath: summary.modelPath, certification: summary.certification }));
    `;
    writeFileSync(join(project, 'example.mjs'), script);
    const run = spawnSync('node', ['example.mjs'], { cwd: project, encoding: 'utf8' });
    expect(run.stderr).not.toMatch(/Error/);
    expect(run.status).toBe(0);
    const out = JSON.parse(run.stdout.trim().split('\n').pop()!);
    expect(out.groups).toHaveLength(3);
    expect(out.after.macs).toBeLessThan(out.before.macs);
    expect(out.report.theoreticalSpeedup).toBeGreaterThan(1);
    expect(out.modelPath).toBe('model'); // the in-memory store's name, not a file
    expect(out.certification.images).toBe(1000);
    const { chosen, path } = out.certification;
    expect(chosen).toBeGreaterThanOrEqual(0); // a pruned model certified within the tolerance
    expect(path[chosen].upperBound).toBeLessThanOrEqual(4);
    expect(spawnSync('ls', [join(project, 'pruned')], { encoding: 'utf8' }).stdout.split('\n')).toEqual(expect.arrayContaining(['model.json', 'weights.bin']));
    // Nothing was written where a run folder would go.
    expect(spawnSync('ls', [project], { encoding: 'utf8' }).stdout.trim().split('\n').sort()).toEqual(['example.mjs', 'node_modules', 'pruned']);
  }, 600_000);
});
