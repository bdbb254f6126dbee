import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/** Trains in a fresh process (the thread count is fixed when wasm first initialises). */
function trainWithThreads(threads: string) {
  const child = spawnSync(process.execPath, ['--import', 'tsx', 'test/fixtures/train-steps.ts'], {
    encoding: 'utf8',
    env: { ...process.env, AUTOPRUNE_WASM_THREADS: threads },
    timeout: 120_000,
  });
  return { status: child.status, stderr: child.stderr, result: child.status === 0 ? JSON.parse(child.stdout.trim().split('\n').pop()!) : undefined };
}

describe('multi-threaded wasm kernels', () => {
  it('train to bit-identical weights with 1 and 2 threads (XNNPACK and the heap pool), and the process exits by itself', () => {
    const one = trainWithThreads('1');
    const two = trainWithThreads('2');
    expect(one.status, one.stderr).toBe(0);
    expect(two.status, two.stderr).toBe(0);
    expect([one.result.threads, one.result.poolThreads]).toEqual([1, 1]);
    // Two threads for XNNPACK's kernels and two for the project's JS kernels (the heap pool).
    expect([two.result.threads, two.result.poolThreads]).toEqual([2, 2]);
    expect(two.result.hash).toBe(one.result.hash);
  });

  it('rejects a thread count that is not a positive integer with a one-line error', () => {
    const bad = trainWithThreads('two');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/AUTOPRUNE_WASM_THREADS must be an integer from 1 to 8, got "two"/);
  });
});
