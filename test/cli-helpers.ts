/** Running the CLI in tests: a run, a run stopped by a signal, a tiny trained baseline. */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';

export const autoprune = (args: string[]) => spawnSync('node', ['bin/autoprune.mjs', '--no-tui', ...args], { encoding: 'utf8' });
export const record = (runsDir: string, id: string) => JSON.parse(readFileSync(join(runsDir, id, 'run.json'), 'utf8'));

/**
 * Starts a run and sends `signal` when stderr first matches `when` (after
 * calling `meanwhile` with the output so far); resolves with its output.
 * Several signals are sent 10 ms apart (within one training batch).
 */
export function runUntil(
  args: string[],
  when: RegExp,
  signal: NodeJS.Signals | NodeJS.Signals[],
  meanwhile?: (stderr: string) => void,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('node', ['bin/autoprune.mjs', '--no-tui', ...args]);
    let [stdout, stderr, sent] = ['', '', false];
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      if (!sent && when.test(stderr)) {
        sent = true;
        meanwhile?.(stderr);
        [signal].flat().forEach((s, i) => setTimeout(() => child.kill(s), 10 * i));
      }
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Trains a LeNet-5 on 640 MNIST images (one epoch) into `runsDir` and writes
 * a tiny prune config for it to `configPath` (a whole run in under a minute).
 */
export function trainTinyBaseline(runsDir: string, configPath: string): void {
  const common = ['--runs-dir', runsDir];
  const train = autoprune([...common, 'train', '--model', 'lenet5', '--dataset', 'mnist', '--epochs', '1', '--train-limit', '640', '--validation-size', '500']);
  expect(train.status).toBe(0);
  const tiny = {
    model: 'lenet5',
    dataset: 'mnist',
    validationSize: 500,
    tolerance: 2,
    rewardSamples: 200,
    evalBatchSize: 200,
    // Scoring in the main thread: starting worker threads costs more than they save on runs this small.
    workers: 1,
    agent: { maxIterations: 6, minIterations: 3, patience: 2, samplesPerIteration: 3 },
    finetune: { epochs: 1, imagesPerEpoch: 192 },
    finalFinetune: { epochs: 1, imagesPerEpoch: 192 },
  };
  writeFileSync(configPath, JSON.stringify(tiny));
}

/** What a compare row decided and measured, without its times: equal for the same method, config and seed wherever it ran. */
export function rowOutcome(row: object) {
  const { method, status, theoreticalSpeedup, compressionRatio, validationAccuracy, testAccuracy, layers, error } = row as Record<string, unknown>;
  return { method, status, theoreticalSpeedup, compressionRatio, validationAccuracy, testAccuracy, layers, error };
}
