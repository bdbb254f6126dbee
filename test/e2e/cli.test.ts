import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir, writeIdxDataset } from '../helpers.js';

function autoprune(args: string[]) {
  const result = spawnSync('node', ['bin/autoprune.mjs', '--no-tui', ...args], { encoding: 'utf8', env: { ...process.env, CI: 'true' } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('autoprune train', () => {
  it('trains, reports accuracies and writes a finished run with the model and its record', () => {
    const runsDir = tempDir();
    const { status, stdout, stderr } = autoprune([
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
      '256',
      '--seed',
      '3',
    ]);
    expect(stderr).toMatch(/backend: wasm/);
    expect(stderr).toMatch(/epoch 1: loss [\d.]+, validation accuracy [\d.]+%/);
    expect(stderr).toMatch(/test accuracy [\d.]+%/);
    expect(status).toBe(0);
    const runId = stdout.trim();
    const record = JSON.parse(readFileSync(join(runsDir, runId, 'run.json'), 'utf8'));
    expect(record.status).toBe('done');
    expect(record.backend).toBe('wasm');
    expect(record.config.seed).toBe(3);
    expect(record.result.testAccuracy).toBeGreaterThan(0.3);
    expect(existsSync(join(runsDir, runId, 'model', 'model.json'))).toBe(true);
    expect(existsSync(join(runsDir, runId, 'model', 'weights.bin'))).toBe(true);
  });

  it.each([
    [
      ['train', '--model', 'alexnet', '--dataset', 'mnist'],
      /option '--model <name>' argument 'alexnet' is invalid. Allowed choices are lenet5, vgg-small, resnet-small/,
    ],
    [['train', '--model', 'lenet5', '--dataset', 'cifar'], /argument 'cifar' is invalid. Allowed choices are mnist, fashion-mnist/],
    [['train', '--model', 'lenet5', '--dataset', 'mnist', '--epochs', 'ten'], /--epochs <n>' argument 'ten' is invalid. expected an integer from 1 to 1000/],
    [['train', '--model', 'lenet5', '--dataset', 'mnist', '--epochs', '0'], /expected an integer from 1 to 1000, got "0"/],
    [['train', '--model', 'lenet5', '--dataset', 'mnist', '--lr', '-1'], /--lr <x>' argument '-1' is invalid/],
    [
      ['--backend', 'tensorflow', 'train', '--model', 'lenet5', '--dataset', 'mnist'],
      /autoprune: --backend tensorflow: @tensorflow\/tfjs-node is not installed/,
    ],
    [['train', '--model', 'lenet5', '--dataset', 'mnist', '--data-dir', '/no/such/dir'], /autoprune: mnist: data folder \/no\/such\/dir does not exist/],
  ])('rejects bad input %j with a one-line error and leaves no run folder', (args, message) => {
    const runsDir = tempDir();
    const { status, stderr } = autoprune(['--runs-dir', runsDir, ...args]);
    expect(status).not.toBe(0);
    expect(stderr).toMatch(message);
    expect(stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(readdirSync(runsDir)).toEqual([]);
  });

  it('refuses a training batch the wasm heap cannot hold (MobileNetV2 at 224 px, batch 64) before any run folder, and trains at the batch it names', () => {
    const dir = writeIdxDataset(tempDir(), { train: 20, test: 4 });
    const runsDir = tempDir();
    const args = ['--runs-dir', runsDir, 'train', '--model', 'mobilenetv2', '--dataset', 'mnist', '--data-dir', dir, '--image-size', '224x224'];
    const refused = autoprune(args);
    expect(refused.status).toBe(1);
    const largest = /give batchSize \(--batch-size\) at most (\d+)\n$/.exec(refused.stderr)?.[1];
    expect(refused.stderr).toMatch(
      /autoprune: batchSize \(--batch-size\): a training batch of 64 at 224x224x1 needs about [\d.]+ GiB of the wasm backend's heap, which holds 4 GiB/,
    );
    expect(readdirSync(runsDir)).toEqual([]);
    // Without the check this run aborts the wasm process; at the batch named it trains.
    const trained = autoprune([...args, '--batch-size', largest!, '--epochs', '1']);
    expect(trained.status, trained.stderr).toBe(0);
  });

  it('names the truncated file in a data folder', () => {
    const dir = writeIdxDataset(tempDir(), { train: 40, test: 10 });
    writeFileSync(join(dir, 't10k-images-idx3-ubyte'), readFileSync(join(dir, 't10k-images-idx3-ubyte')).subarray(0, 100));
    const { status, stderr } = autoprune(['--runs-dir', tempDir(), 'train', '--model', 'lenet5', '--dataset', 'fashion-mnist', '--data-dir', dir]);
    expect(status).toBe(1);
    expect(stderr).toMatch(/t10k-images-idx3-ubyte: IDX header declares 10x28x28 = 7840 bytes of data but the file holds 84 \(truncated\)/);
  });
});

describe('autoprune --version', () => {
  it("prints the package's version", () => {
    const { status, stdout } = autoprune(['--version']);
    expect(status).toBe(0);
    expect(stdout.trim()).toBe(JSON.parse(readFileSync('package.json', 'utf8')).version);
  });
});

describe('autoprune runs, in a narrow terminal', () => {
  it('drops the model and data set columns (the id names them), then shortens results to fit', async () => {
    const { formatRuns } = await import('../../src/cli/runs-command.js');
    const { listedRecord } = await import('../../src/run/results.js');
    const { METHODS } = await import('../../src/run/compare-results.js');
    const record = (id: string) => ({
      schemaVersion: 1,
      id,
      command: 'compare',
      status: 'done' as const,
      createdAt: id,
      updatedAt: id,
      config: { model: 'resnet-small', dataset: 'fashion-mnist' },
      backend: 'wasm',
      result: {
        rows: [
          { method: 'rl', status: 'done', theoreticalSpeedup: 1.8, compressionRatio: 2.1, validationAccuracy: 0.91, testAccuracy: 0.9, seconds: 1 },
          ...METHODS.slice(1).map((method) => ({ method, status: 'failed', seconds: 1 })),
        ],
      },
    });
    const listing = {
      records: [listedRecord(record('20261122-101633-compare-resnet-small-fashion-mnist-c8dc'), 'run.json')],
      unreadable: [{ id: 'x', reason: 'unreadable run record (Unexpected end of JSON input)' }],
    };
    const wide = formatRuns(listing);
    expect(wide).toMatch(/model\s+data set/);
    expect(wide).toMatch(/1 method done, 9 failed; most FLOPs removed: rl 1\.80x/);
    const narrow = formatRuns(listing, 100);
    expect(narrow).not.toMatch(/data set/);
    for (const line of narrow.split('\n')) expect(line.length).toBeLessThanOrEqual(100);
    expect(narrow).toMatch(/20261122-101633-compare-resnet-small-fashion-mnist-c8dc\s+compare\s+done\s+1 method done, 9 fail…/);
  });
});
