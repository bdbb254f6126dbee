import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { autoprune, record, runUntil, trainTinyBaseline } from '../cli-helpers.js';
import { tempDir, writeIdxDataset } from '../helpers.js';

const LARGER_IMAGES = writeIdxDataset(tempDir(), { size: 32 });

describe('autoprune prune / resume', () => {
  const runsDir = tempDir();
  const configPath = join(runsDir, 'tiny.json');
  const common = ['--runs-dir', runsDir];

  beforeAll(() => trainTinyBaseline(runsDir, configPath));
  /** The first test's run (seed 4, two kernel threads): the uninterrupted reference of the resume test. */
  let wholeRun: string | undefined;

  it('runs the whole loop from a config, recording every group, iteration and the final report', () => {
    // Two kernel threads in the main thread, as a user's run has them (the pooled run below: one per worker).
    const { status, stdout, stderr } = autoprune([...common, '--threads', '2', 'prune', '--config', configPath, '--seed', '4']);
    expect(stderr).toMatch(/try-and-learn on lenet5 \/ mnist: tolerance 2 points, seed 4, 3 groups/);
    expect(stderr).toMatch(/group 0: kept \d+\/20 \(agent \d+/);
    expect(stderr).toMatch(/candidate networks\/s/);
    // The estimate before the run: from timed steps, kept in the record beside what the run took.
    expect(stderr).toMatch(/estimated time \d+m?\d*s? to \d+m?\d*s? \(search [^)]+, fine-tunes [^)]+\), peak memory about \d+ MiB; from steps timed in/);
    expect(status).toBe(0);
    const r = record(runsDir, stdout.trim());
    expect(r.status).toBe('done');
    wholeRun = stdout.trim();
    expect(r.config.seed).toBe(4);
    expect(r.result.groups.map((g: { groupId: number }) => g.groupId)).toEqual([0, 1, 2]);
    for (const g of r.result.groups) {
      expect(g.iterations.length).toBeGreaterThanOrEqual(3);
      expect(Object.keys(g.iterations[0])).toEqual([
        'iteration',
        'meanReward',
        'bestReward',
        'meanAccuracy',
        'meanKept',
        'greedyKept',
        'entropy',
        'imagesScored',
        'seconds',
      ]);
      expect(g.iterations[0].imagesScored).toBe(3 * 200); // no racing: every candidate on the whole reward subset
    }
    // The tolerance guarantee, on the validation split.
    expect(r.result.report.validationDrop).toBeLessThanOrEqual(2);
    // The model the user gets is the certified one of the run's path: the final model, or the one it fell back to.
    const { path, chosen } = r.result.certification;
    const certifiedLabel = chosen >= 0 ? path[chosen].label : 'unpruned';
    const lastGroup = r.result.groups[2];
    if (certifiedLabel === 'final') expect(r.result.report.pruned.params).toBe(lastGroup.params);
    else expect(r.result.report.pruned.params).toBeGreaterThan(lastGroup.params);
    // Where the time went: every group's phases add up to its seconds; the run's to its whole time, and show prints them.
    const sum = (phases: Record<string, number>) => Object.values(phases).reduce((a, b) => a + b, 0);
    for (const g of r.result.groups) {
      expect(g.phases.scoring).toBeGreaterThan(0);
      expect(g.phases.finetune).toBeGreaterThan(0);
      expect(sum(g.phases)).toBeCloseTo(g.seconds, 1);
    }
    const { phases, seconds } = r.result.summary;
    const { total, search, finetunes, steps } = r.result.estimate;
    expect(total[0]).toBeGreaterThan(0);
    expect(total[0]).toBeLessThan(total[1]);
    expect(search[1] + finetunes[1]).toBeLessThanOrEqual(total[1]);
    for (const cost of [steps.forwardPerImage, steps.trainBatch, steps.candidate.forwardPerImage]) expect(cost).toBeGreaterThan(0);
    expect(phases.bounds).toBeGreaterThan(0);
    expect(phases.report).toBeGreaterThan(0);
    expect(phases.io).toBeGreaterThan(0);
    expect(sum(phases)).toBeGreaterThan(0.97 * seconds);
    expect(sum(phases)).toBeLessThanOrEqual(seconds + 0.1);
    expect(autoprune([...common, 'show', stdout.trim()]).stdout).toMatch(
      /\ntime \d+m?\d*s? \(estimated \d+m?\d*s? to \d+m?\d*s?\): [^\n]*fine-tunes \d[^\n]*candidate scoring \d/,
    );

    // Masks scored by two worker threads: the same search and decisions.
    const pooled = autoprune([...common, 'prune', '--config', configPath, '--seed', '4', '--workers', '2']);
    expect(pooled.status, pooled.stderr).toBe(0);
    const decisions = (run: typeof r) =>
      run.result.groups.map((g: { kept: number[]; iterations: { meanReward: number; meanAccuracy: number }[] }) => ({
        kept: g.kept,
        rewards: g.iterations.map((i) => [i.meanReward, i.meanAccuracy]),
      }));
    expect(decisions(record(runsDir, pooled.stdout.trim()))).toEqual(decisions(r));
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
    // Another backend would decide the remaining groups differently from an uninterrupted run: refused, naming the one to use.
    const id = /run: .*\/([^/\s]+)\n/.exec(stopped.stderr)![1];
    const elsewhere = autoprune([...common, '--backend', 'cpu', 'resume', id]);
    expect(elsewhere.status).toBe(1);
    expect(elsewhere.stderr).toMatch(/ran on the wasm backend; resume it there \(--backend wasm\), not on cpu/);
    expect(record(runsDir, id).status).toBe('interrupted');
  });

  it("resumes an interrupted run (SIGINT) and a killed one (SIGKILL) to the same result as an uninterrupted run (the first test's run, at another thread count)", async () => {
    const args = [...common, 'prune', '--config', configPath, '--seed', '4'];
    wholeRun ??= autoprune(args).stdout.trim();
    const reference = record(runsDir, wholeRun);
    expect(reference.status).toBe('done');

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
    expect(readFileSync(join(runsDir, id, 'model', 'weights.bin'))).toEqual(readFileSync(join(runsDir, wholeRun, 'model', 'weights.bin')));

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
      new RegExp(
        `${killedId}\\s+prune\\s+lenet5\\s+mnist\\s+done\\s+FLOPs [\\d.]+x, params [\\d.]+x, certified drop -?[\\d.]+ \\(<= -?[\\d.]+\\)( from a fallback \\([\\w ]+\\))?, test [\\d.]+% \\(drop -?[\\d.]+\\)`,
      ),
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

  it.each([
    [['compare', '--methods', 'rl,magic'], /--methods: unknown method magic; choose from rl, l1, l2, fpgm, apoz, mean-activation, taylor, bn-scale, random/],
    [['compare', '--methods', 'l1', '--report', '/proc/report.html'], /report path \/proc\/report\.html: cannot write in \/proc \(ENOENT\)/],
    [['report', 'no-such-run'], /run "no-such-run" not found/],
    [['report', 'run-a', 'run-b'], /report: with several runs, say where the merged report goes with --out/],
    [['prune', '--model', 'lenet5', '--dataset', 'mnist', '--tolerance', '0'], /--tolerance 0: tolerance: Too small: expected number to be >0/],
    [['prune', '--model', 'lenet5', '--dataset', 'mnist', '--tolerance', '100'], /tolerance: Too big: expected number to be <100/],
    [['prune', '--set', 'agent.hiden=3'], /unknown field agent\.hiden/],
    [['resume', 'no-such-run'], /run "no-such-run" not found/],
    [['compare', '--methods', 'l1', '--time-budget', '1h'], /^autoprune: timeBudget applies to prune runs; a compare gives every method the same fine-tunes/m],
    [['prune', '--model', 'lenet5', '--time-budget', '1x'], /--time-budget <duration>' argument '1x' is invalid\. expected a duration like 30m, 3h or 1h30m/],
    // Timed on the baseline before the run starts: no run folder for a run that cannot fit.
    [
      ['prune', '--model', 'lenet5', '--dataset', 'mnist', '--time-budget', '2s'],
      /^(?![\s\S]*run: )[\s\S]*autoprune: timeBudget 2s: the cheapest run its rule allows \(agent\.minIterations \d+ -> 10, [^)]*\) is estimated time [^\n]*; give at least \d+m?\d*s?\n$/,
    ],
    // Checked before a baseline is trained for the data (12 validation images here).
    [
      ['prune', '--model', 'vgg-small', '--dataset', 'mnist', '--data-dir', LARGER_IMAGES, '--reward-samples', '100'],
      /the validation split has 12 images: 6 for certification leave 6 for selection, and each needs at least 100; give at least 200 validation images \(a val\/ folder, or --validation-size when the baseline is trained\)/,
    ],
  ])('rejects %j clearly', (args, message) => {
    const { status, stderr } = autoprune([...common, ...args]);
    expect(status).toBe(1);
    expect(stderr).toMatch(message);
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
