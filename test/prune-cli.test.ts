import { spawn, spawnSync } from 'node:child_process';
import type { SymbolicTensor } from '@tensorflow/tfjs';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir, writeIdxDataset } from './helpers.js';

const SHIPPED_LENET = 'src/models/pretrained/lenet5-mnist/model.json';
const LARGER_IMAGES = writeIdxDataset(tempDir(), { size: 32 });
const autoprune = (args: string[]) => spawnSync('node', ['bin/autoprune.mjs', '--no-tui', ...args], { encoding: 'utf8' });
const record = (runsDir: string, id: string) => JSON.parse(readFileSync(join(runsDir, id, 'run.json'), 'utf8'));

/**
 * Starts a run and sends `signal` when stderr first matches `when` (after
 * calling `meanwhile` with the output so far); resolves with its output.
 * Several signals are sent 10 ms apart (within one training batch).
 */
function runUntil(
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

describe('autoprune prune / resume', () => {
  const runsDir = tempDir();
  const configPath = join(runsDir, 'tiny.json');
  const common = ['--runs-dir', runsDir];

  beforeAll(() => {
    const train = autoprune([
      ...common,
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
    const tiny = {
      model: 'lenet5',
      dataset: 'mnist',
      validationSize: 500,
      tolerance: 2,
      rewardSamples: 200,
      evalBatchSize: 200,
      agent: { maxIterations: 6, minIterations: 3, patience: 2, samplesPerIteration: 3 },
      finetune: { epochs: 1, imagesPerEpoch: 192 },
      finalFinetune: { epochs: 1, imagesPerEpoch: 192 },
    };
    writeFileSync(configPath, JSON.stringify(tiny));
  });

  it('runs the whole loop from a config, recording every group, iteration and the final report', () => {
    const { status, stdout, stderr } = autoprune([...common, 'prune', '--config', configPath, '--seed', '4']);
    expect(stderr).toMatch(/try-and-learn on lenet5 \/ mnist: tolerance 2 points, seed 4, 3 groups/);
    expect(stderr).toMatch(/group 0: kept \d+\/20 \(agent \d+/);
    expect(stderr).toMatch(/candidate networks\/s/);
    expect(status).toBe(0);
    const r = record(runsDir, stdout.trim());
    expect(r.status).toBe('done');
    expect(r.config.seed).toBe(4);
    expect(r.result.groups.map((g: { groupId: number }) => g.groupId)).toEqual([0, 1, 2]);
    for (const g of r.result.groups) {
      expect(g.iterations.length).toBeGreaterThanOrEqual(3);
      expect(Object.keys(g.iterations[0])).toEqual(['iteration', 'meanReward', 'bestReward', 'meanAccuracy', 'meanKept', 'greedyKept', 'entropy', 'seconds']);
    }
    // The tolerance guarantee, on the validation split.
    expect(r.result.report.validationDrop).toBeLessThanOrEqual(2);
    expect(r.result.report.pruned.params).toBe(r.result.groups[2].params);
  });

  it('runs the same loop without an agent along a criterion ranking (the control policy), and names a criterion that cannot rank', () => {
    const { status, stdout } = autoprune([...common, 'prune', '--config', configPath, '--set', 'policy="l1"', '--set', 'relaxSteps=2']);
    expect(status).toBe(0);
    const r = record(runsDir, stdout.trim());
    expect(r.status).toBe('done');
    for (const g of r.result.groups) {
      expect(g.iterations).toEqual([]);
      expect(g.probes[0].kept).toBe(Math.ceil(g.size / 2));
      expect(g.probes.length).toBeLessThanOrEqual(3);
      // The fewest filters of any probe within the budget; all of them when none was.
      const within = g.probes.filter((p: { withinBudget: boolean }) => p.withinBudget).map((p: { kept: number }) => p.kept);
      expect(g.kept).toHaveLength(within.length > 0 ? Math.min(...within) : g.size);
    }
    const bn = autoprune([...common, 'prune', '--config', configPath, '--set', 'policy="bn-scale"']);
    expect(bn.status).toBe(1);
    expect(bn.stderr).toMatch(/autoprune: policy bn-scale cannot rank group 0 \(conv1\)/);
  });

  it('prints one JSON event per line with --json', () => {
    const { status, stdout } = autoprune([
      ...common,
      'prune',
      '--config',
      configPath,
      '--json',
      '--set',
      'agent.maxIterations=2',
      '--set',
      'agent.minIterations=0',
    ]);
    expect(status).toBe(0);
    const events = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(events[0]).toMatchObject({ type: 'run-start', model: 'lenet5', tolerance: 2 });
    expect(events.at(-1).type).toBe('run-done');
    expect(events.filter((e) => e.type === 'group-done')).toHaveLength(3);
    expect(events.filter((e) => e.type === 'iteration').map((e) => e.record.iteration)).toEqual([1, 2, 1, 2, 1, 2]);
  });

  it('refuses to resume a run whose process is still running', async () => {
    let whileRunning: ReturnType<typeof autoprune> | undefined;
    const args = [...common, 'prune', '--config', configPath, '--seed', '4'];
    const stopped = await runUntil(args, /group 1 \(conv2\)/, 'SIGINT', (stderr) => {
      whileRunning = autoprune([...common, 'resume', /run: .*\/([^/\s]+)\n/.exec(stderr)![1]]);
    });
    expect(stopped.code).toBe(130);
    expect(whileRunning!.status).not.toBe(0);
    expect(whileRunning!.stderr).toMatch(/is still running \(process \d+\); stop it first \(Ctrl-C, or kill \d+\), then resume/);
  });

  it('resumes an interrupted run (SIGINT) and a killed one (SIGKILL) to the same result as an uninterrupted run', async () => {
    const args = [...common, 'prune', '--config', configPath, '--seed', '9'];
    const whole = autoprune(args);
    expect(whole.status).toBe(0);
    const reference = record(runsDir, whole.stdout.trim());

    const interrupted = await runUntil(args, /group 1 \(conv2\)/, 'SIGINT');
    expect(interrupted.code).toBe(130);
    expect(interrupted.stderr).toMatch(/interrupted; continue it with: autoprune resume/);
    const id = interrupted.stdout.trim() || /run: .*\/([^/\s]+)\n/.exec(interrupted.stderr)![1];
    const saved = record(runsDir, id);
    expect(saved.status).toBe('interrupted');
    expect(saved.result.groups).toHaveLength(1);
    expect(autoprune([...common, 'show', id]).stdout).toMatch(/status interrupted \(stopped during group 1\)[\s\S]*resume with: autoprune resume/);

    const resumed = autoprune([...common, 'resume', id]);
    expect(resumed.stderr).toMatch(/resuming after 1 finished group\b/);
    expect(resumed.status).toBe(0);
    const after = record(runsDir, id);
    expect(after.status).toBe('done');
    const decisions = (r: typeof reference) =>
      r.result.groups.map((g: { kept: number[]; iterations: { meanReward: number }[] }) => [g.kept, g.iterations.map((i) => i.meanReward)]);
    expect(decisions(after)).toEqual(decisions(reference));
    // Its time and search rate cover the group finished before the interruption too.
    type Group = { seconds: number; evaluations: number; searchSeconds: number };
    const groups = after.result.groups as Group[];
    expect(after.result.summary.seconds).toBeGreaterThan(groups.reduce((sum, g) => sum + g.seconds, 0));
    expect(after.result.summary.evaluationsPerSecond).toBeCloseTo(
      groups.reduce((n, g) => n + g.evaluations, 0) / groups.reduce((t, g) => t + g.searchSeconds, 0),
      6,
    );
    expect(readFileSync(join(runsDir, id, 'model', 'weights.bin'))).toEqual(readFileSync(join(runsDir, whole.stdout.trim(), 'model', 'weights.bin')));

    const killed = await runUntil(args, /group 2 \(fc1\)/, 'SIGKILL');
    expect(killed.code).toBe(null);
    const killedId = /run: .*\/([^/\s]+)\n/.exec(killed.stderr)![1];
    const partial = record(runsDir, killedId); // parses: never corrupt
    expect(partial.result.groups).toHaveLength(2);
    // A run whose process died shows as crashed, with the way to continue it.
    const show = autoprune([...common, 'show', killedId]);
    expect(show.stdout).toMatch(/command prune, status crashed/);
    expect(show.stdout).toMatch(/group 1 \(conv2\): kept \d+\/50/);
    expect(show.stdout).toMatch(new RegExp(`resume with: autoprune resume ${killedId}`));
    expect(show.stdout).toMatch(new RegExp(`checkpoints: .*${killedId}/checkpoints/ \\(2 groups\\)`));
    expect(autoprune([...common, 'runs', '--wide']).stdout).toMatch(new RegExp(`${killedId}\\s+prune\\s+lenet5\\s+mnist\\s+crashed\\s+2 groups finished`));
    expect(autoprune([...common, 'resume', killedId]).status).toBe(0);
    expect(decisions(record(runsDir, killedId))).toEqual(decisions(reference));
    expect(autoprune([...common, 'show', killedId]).stdout).toMatch(new RegExp(`pruned model: .*${killedId}/model/model\\.json`));
    expect(autoprune([...common, 'runs', '--wide']).stdout).toMatch(
      new RegExp(`${killedId}\\s+prune\\s+lenet5\\s+mnist\\s+done\\s+FLOPs [\\d.]+x, params [\\d.]+x, test [\\d.]+% \\(drop -?[\\d.]+\\)`),
    );
  });

  it('stops within a batch of fine-tuning on SIGTERM, and at once on a second Ctrl-C, leaving a record that resumes', async () => {
    // 200 batches of fine-tuning after the first group: the signal arrives at its first progress line
    // (batch 20, 40 or 60: plain progress lines are rate-limited, so which one is printed depends on timing).
    const args = [...common, 'prune', '--config', configPath, '--seed', '11', '--set', 'finetune.imagesPerEpoch=12800'];
    const fineTuning = /fine-tuning after group 0: epoch 1\/1 batch (20|40|60)\/200/;
    const terminated = await runUntil(args, fineTuning, 'SIGTERM');
    expect(terminated.code).toBe(143);
    const id = /run: .*\/([^/\s]+)\n/.exec(terminated.stderr)![1];
    const saved = record(runsDir, id);
    expect(saved.status).toBe('interrupted');
    expect(saved.error).toMatch(/^stopped during training, epoch 1 batch (\d+)\/200$/);
    expect(Number(/batch (\d+)/.exec(saved.error)![1])).toBeLessThan(100);
    expect(saved.result.groups ?? []).toHaveLength(0);

    const twice = await runUntil(args, fineTuning, ['SIGINT', 'SIGINT']);
    expect(twice.code).toBe(130);
    const twiceId = /run: .*\/([^/\s]+)\n/.exec(twice.stderr)![1];
    expect(record(runsDir, twiceId)).toMatchObject({ status: 'interrupted', error: 'stopped by a second SIGINT' });
    expect(autoprune([...common, 'show', twiceId]).stdout).toMatch(/resume with: autoprune resume/);
    expect(readdirSync(join(runsDir, twiceId)).filter((f) => f.includes('tmp'))).toEqual([]);
  });

  const compareArgs = [
    ...common,
    'compare',
    '--config',
    configPath,
    '--methods',
    'rl,l1,bn-scale',
    '--probes',
    '4',
    '--set',
    'agent.maxIterations=3',
    '--set',
    'agent.minIterations=0',
  ];
  let oneAtATime: { rows: Record<string, unknown>[] } | undefined;

  it('compares the agent with hand-made criteria from the same baseline; a failing method is marked, the others finish', () => {
    const { status, stdout, stderr } = autoprune(compareArgs);
    expect(status).toBe(0);
    const dir = join(runsDir, stdout.trim());
    const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
    oneAtATime = results;
    expect(results.rows.map((r: { method: string; status: string }) => [r.method, r.status])).toEqual([
      ['rl', 'done'],
      ['l1', 'done'],
      ['bn-scale', 'failed'],
    ]);
    expect(results.rows[2].error).toMatch(/no BatchNormalization with a scale \(gamma\) follows any prunable group/);
    for (const row of results.rows.slice(0, 2)) {
      expect(row.theoreticalSpeedup).toBeGreaterThanOrEqual(1);
      expect(100 * (record(runsDir, results.rows[0].runId).result.report.original.validationAccuracy - row.validationAccuracy)).toBeLessThanOrEqual(2);
    }
    const csv = readFileSync(join(dir, 'results.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('method,status,theoreticalSpeedup,compressionRatio,measuredSpeedupBatch256,validationAccuracy,testAccuracy,seconds,error');
    expect(csv).toHaveLength(4);
    expect(stderr).toMatch(
      /unpruned\s+1\.00x[\s\S]*rl\s+[\d.]+x[\s\S]*l1\s+[\d.]+x[\s\S]*bn-scale\s+failed \(below\)[\s\S]*bn-scale failed: criterion bn-scale/,
    );
    // What the report draws: every layer's width, each method's search, the agent's curves per group.
    const [rl, l1] = results.rows;
    expect(rl.layers.map((l: { layer: string }) => l.layer)).toEqual(['conv1', 'conv2', 'fc1']);
    expect(l1.layers.map((l: { total: number }) => l.total)).toEqual([20, 50, 500]);
    expect(rl.agent.map((g: { groupId: number; iterations: unknown[] }) => [g.groupId, g.iterations.length])).toEqual([
      [0, 3],
      [1, 3],
      [2, 3],
    ]);
    expect(rl.tradeOff).toHaveLength(3);
    expect(l1.tradeOff.length).toBeGreaterThanOrEqual(1);
    expect(l1.modelPath).toBe(join(dir, 'models', 'l1', 'model.json'));
    // Each criterion searches with both rankings to the same resolution (the 1% floor: fc1 has 500 channels); the row is the one removing more FLOPs.
    expect(stderr).toMatch(
      /l1: bisection to a resolution of 0\.010 \(the 0\.01 floor; the largest group has 500 channels\), with local and with global ranking/,
    );
    expect(l1.variants.map((v: { ranking: string }) => v.ranking)).toEqual(['local', 'global']);
    const taken = l1.variants.find((v: { ranking: string }) => v.ranking === l1.ranking);
    for (const v of l1.variants) {
      expect(v.resolution).toBe(0.01);
      expect(v.probes.length).toBeGreaterThanOrEqual(1);
      expect(taken.theoreticalSpeedup).toBeGreaterThanOrEqual(v.theoreticalSpeedup);
    }
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    for (const id of ['trade-off', 'layers', 'agent-reward', 'agent-kept']) expect(html).toContain(`<figure id="${id}"><svg`);
    expect(autoprune([...common, 'runs', '--wide']).stdout).toMatch(
      new RegExp(`${stdout.trim()}\\s+compare\\s+.*done\\s+2 methods done, 1 failed; most FLOPs removed: (rl|l1) [\\d.]+x`),
    );
    const show = autoprune([...common, 'show', stdout.trim()]).stdout;
    expect(show).toMatch(/ {2}rl: FLOPs [\d.]+x, params [\d.]+x, validation [\d.]+%, test [\d.]+%/);
    expect(show).toMatch(/ {2}bn-scale: failed: criterion bn-scale: no BatchNormalization/);
    // The report can be redrawn from results.json, elsewhere.
    const out = join(runsDir, 'again.html');
    const redraw = autoprune([...common, 'report', stdout.trim(), '--out', out]);
    expect(redraw.status).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(html);
  });

  it('runs the methods in parallel processes with --jobs and gets the same results as one at a time', () => {
    const { status, stdout, stderr } = autoprune([...compareArgs, '--jobs', '2']);
    expect(status, stderr).toBe(0);
    const threadsEach = Math.min(8, Math.max(1, Math.floor(availableParallelism() / 2)));
    expect(stderr).toMatch(new RegExp(`3 methods, 2 at a time, ${threadsEach} wasm threads? each`));
    expect(stderr).toMatch(/\[l1\] /);
    const results = JSON.parse(readFileSync(join(runsDir, stdout.trim(), 'results.json'), 'utf8'));
    const outcome = (rows: Record<string, unknown>[]) =>
      rows.map(({ method, status: s, theoreticalSpeedup, compressionRatio, validationAccuracy, testAccuracy, layers, error }) => ({
        method,
        s,
        theoreticalSpeedup,
        compressionRatio,
        validationAccuracy,
        testAccuracy,
        layers,
        error,
      }));
    expect(outcome(results.rows)).toEqual(outcome(oneAtATime!.rows));
    // The agent's learning is the same too, group by group.
    const curves = (rows: Record<string, unknown>[]) => (rows[0].agent as { iterations: unknown[] }[]).map((g) => g.iterations);
    expect(curves(results.rows)).toEqual(curves(oneAtATime!.rows));
  });

  it('compares with the sensitivity method: every group measured alone, a threshold search, its model saved', () => {
    const { status, stdout, stderr } = autoprune([...common, 'compare', '--config', configPath, '--methods', 'sensitivity', '--probes', '2']);
    expect(status).toBe(0);
    const dir = join(runsDir, stdout.trim());
    const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
    const [row] = results.rows;
    expect([row.method, row.status]).toEqual(['sensitivity', 'done']);
    expect(row.sensitivity.curves.map((c: { size: number; points: unknown[] }) => [c.size, c.points.length])).toEqual([
      [20, 19],
      [50, 19],
      [500, 19],
    ]);
    expect(row.sensitivity.probes.length).toBeGreaterThanOrEqual(1);
    expect(row.sensitivity.probes.length).toBeLessThanOrEqual(2);
    expect(row.tradeOff).toHaveLength(row.sensitivity.probes.length);
    expect(100 * (results.unpruned.validationAccuracy - row.validationAccuracy)).toBeLessThanOrEqual(2);
    expect(row.modelPath).toBe(join(dir, 'models', 'sensitivity', 'model.json'));
    expect(stderr).toMatch(/sensitivity: group 0 \(conv1, 20 channels\), validation drop before fine-tuning at each ratio: (-?[\d.]+ ){18}-?[\d.]+\n/);
    expect(stderr).toMatch(/sensitivity probe 1: threshold -?[\d.]+ points, ratios [\d.]+\/[\d.]+\/[\d.]+, validation drop/);
    expect(readFileSync(join(dir, 'report.html'), 'utf8')).toContain('<figure id="sensitivity"><svg');
  });

  it('keeps the finished methods of a compare run stopped by Ctrl-C', async () => {
    const stopped = await runUntil([...common, 'compare', '--config', configPath, '--methods', 'l1,l2', '--probes', '2'], /== l2/, 'SIGINT');
    expect(stopped.code).toBe(130);
    const id = /run: .*\/([^/\s]+compare[^/\s]+)\n/.exec(stopped.stderr)![1];
    expect(record(runsDir, id).status).toBe('interrupted');
    const results = JSON.parse(readFileSync(join(runsDir, id, 'results.json'), 'utf8'));
    expect(results.rows.map((r: { method: string; status: string }) => [r.method, r.status])).toEqual([['l1', 'done']]);
  });

  it('stopped by Ctrl-C during the agent, lets the agent stop cleanly, then records both runs as interrupted', async () => {
    const stopped = await runUntil([...common, 'compare', '--config', configPath, '--methods', 'l1,rl', '--probes', '2'], /group 1 \(conv2\)/, 'SIGINT');
    expect(stopped.code).toBe(130);
    expect(stopped.stderr).toMatch(/compare interrupted; the finished methods' rows are in/);
    const id = /run: .*\/([^/\s]+compare[^/\s]+)\n/.exec(stopped.stderr)![1];
    expect(record(runsDir, id)).toMatchObject({ status: 'interrupted', error: 'stopped by SIGINT' });
    const results = JSON.parse(readFileSync(join(runsDir, id, 'results.json'), 'utf8'));
    expect(results.rows.map((r: { method: string }) => r.method)).toEqual(['l1']);
    // The agent's own prune run stopped at its next step and can be resumed.
    const agentId = /run: .*\/([^/\s]+prune[^/\s]+)\n/.exec(stopped.stderr)![1];
    expect(record(runsDir, agentId).status).toBe('interrupted');
  });

  it('stops a --jobs compare with Ctrl-C: the parent is recorded as interrupted and no method keeps running', async () => {
    const stopped = await runUntil(
      [...common, 'compare', '--config', configPath, '--methods', 'l1,l2', '--probes', '2', '--jobs', '2'],
      /\[l2\] .*probe 1/,
      'SIGINT',
    );
    expect(stopped.code).toBe(130);
    const id = /run: .*\/([^/\s]+compare[^/\s]+)\n/.exec(stopped.stderr)![1];
    expect(record(runsDir, id).status).toBe('interrupted');
    const pids = [...stopped.stderr.matchAll(/== l\d \(pid (\d+)\)/g)].map((m) => Number(m[1]));
    expect(pids).toHaveLength(2);
    const alive = () =>
      pids.filter((pid) => {
        try {
          process.kill(pid, 0);
          return true;
        } catch {
          return false;
        }
      });
    for (let waited = 0; waited < 60_000 && alive().length > 0; waited += 500) await new Promise((done) => setTimeout(done, 500));
    expect(alive()).toEqual([]);
  });

  it.each([
    [['compare', '--methods', 'rl,magic'], /--methods: unknown method magic; choose from rl, l1, l2, random, apoz, mean-activation, bn-scale, taylor, fpgm/],
    [['compare', '--methods', 'l1', '--report', '/proc/report.html'], /report path \/proc\/report\.html: cannot write in \/proc \(ENOENT\)/],
    [
      [
        'compare',
        '--methods',
        'l1',
        '--model',
        SHIPPED_LENET,
        '--dataset',
        'mnist',
        '--data-dir',
        LARGER_IMAGES,
        '--validation-size',
        '110',
        '--reward-samples',
        '10',
      ],
      /lenet5-mnist\/model\.json: the model takes inputs of 28x28x1 but mnist images are 32x32x1/,
    ],
    [['report', 'no-such-run'], /run "no-such-run" not found/],
    [['report', 'run-a', 'run-b'], /report: with several runs, say where the merged report goes with --out/],
    [['prune', '--model', 'lenet5', '--dataset', 'mnist', '--tolerance', '0'], /--tolerance 0: tolerance: Too small: expected number to be >0/],
    [['prune', '--model', 'lenet5', '--dataset', 'mnist', '--tolerance', '100'], /tolerance: Too big: expected number to be <100/],
    [['prune', '--set', 'agent.hiden=3'], /unknown field agent\.hiden/],
    [['resume', 'no-such-run'], /run "no-such-run" not found/],
  ])('rejects %j clearly', (args, message) => {
    const { status, stderr } = autoprune([...common, ...args]);
    expect(status).toBe(1);
    expect(stderr).toMatch(message);
  });

  it('refuses a model with nothing to prune before making a run folder', async () => {
    const tf = await import('@tensorflow/tfjs');
    const { saveModel } = await import('../src/models/io.js');
    const dense = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [28, 28, 1] }), tf.layers.dense({ units: 10, activation: 'softmax' })] });
    const path = await saveModel(dense, join(tempDir(), 'dense-only'));
    const emptyRuns = tempDir();
    for (const command of [['prune'], ['compare', '--methods', 'l1'], ['baseline', '--ratio', '0.5']]) {
      const { status, stderr } = autoprune(['--runs-dir', emptyRuns, ...command, '--model', path, '--dataset', 'mnist', '--validation-size', '2000']);
      expect(status, command.join(' ')).toBe(1);
      expect(stderr).toMatch(/dense-only\/model\.json: nothing to prune: no prunable channel group/);
    }
    expect(readdirSync(emptyRuns)).toEqual([]);
  });

  it("refuses models that are not single-output classifiers of the data set's classes, naming the file, before making a run folder", async () => {
    const tf = await import('@tensorflow/tfjs');
    const { saveModel } = await import('../src/models/io.js');
    const input = tf.input({ shape: [28, 28, 1] });
    const features = tf.layers
      .conv2d({ filters: 10, kernelSize: 3, padding: 'same' })
      .apply(tf.layers.conv2d({ filters: 8, kernelSize: 3 }).apply(input)) as SymbolicTensor;
    const flat = tf.layers.flatten().apply(features) as SymbolicTensor;
    const scores = (units: number) => tf.layers.dense({ units, activation: 'softmax' }).apply(flat) as SymbolicTensor;
    const dir = tempDir();
    const cases: [string, SymbolicTensor[], RegExp][] = [
      ['two-heads', [scores(10), scores(10)], /two-heads\/model\.json: the model has 1 input and 2 outputs; autoprune prunes classifiers/],
      [
        'feature-map',
        [features],
        /feature-map\/model\.json: the model's output has shape \[batch, 26, 26, 10\]; autoprune prunes classifiers, whose output is \[batch, classes\]/,
      ],
      ['seven-classes', [scores(7)], /seven-classes\/model\.json: the model scores 7 classes but mnist has 10/],
    ];
    const emptyRuns = tempDir();
    for (const [name, outputs, message] of cases) {
      const path = await saveModel(tf.model({ inputs: input, outputs }), join(dir, name));
      for (const command of [['prune'], ['baseline', '--ratio', '0.5']]) {
        const { status, stderr } = autoprune(['--runs-dir', emptyRuns, ...command, '--model', path, '--dataset', 'mnist', '--validation-size', '2000']);
        expect(status, `${name}: ${command[0]}`).toBe(1);
        expect(stderr.trim().split('\n').pop()).toMatch(message);
      }
    }
    expect(readdirSync(emptyRuns)).toEqual([]);
  });

  it('names an unknown field in a config file, and refuses to resume a run whose checkpoint was removed', async () => {
    const bad = join(runsDir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ model: 'lenet5', tolerence: 1 }));
    expect(autoprune([...common, 'prune', '--config', bad]).stderr).toMatch(new RegExp(`${bad}: unknown field tolerence`));

    const stopped = await runUntil([...common, 'prune', '--config', configPath], /group 1 \(conv2\)/, 'SIGINT');
    const id = /run: .*\/([^/\s]+)\n/.exec(stopped.stderr)![1];
    const before = readFileSync(join(runsDir, id, 'run.json'), 'utf8');
    rmSync(join(runsDir, id, 'checkpoints', 'group-0'), { recursive: true });
    const resumed = autoprune([...common, 'resume', id]);
    expect(resumed.status).toBe(1);
    expect(resumed.stderr).toMatch(/the checkpoint of group 0 .* is missing/);
    expect(readFileSync(join(runsDir, id, 'run.json'), 'utf8')).toBe(before); // the run folder is not damaged
  });
});
