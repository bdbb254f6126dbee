import { availableParallelism } from 'node:os';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { autoprune, record, rowOutcome, runUntil, trainTinyBaseline } from '../cli-helpers.js';
import { tempDir } from '../helpers.js';
import { type CompareJob, type JobEvent, jobRow, startJobProcess } from '../../src/compare/jobs.js';
import { parsePruneConfig, readConfigFile } from '../../src/run/config.js';

describe('autoprune compare', () => {
  const runsDir = tempDir();
  const configPath = join(runsDir, 'tiny.json');
  const common = ['--runs-dir', runsDir];

  beforeAll(() => trainTinyBaseline(runsDir, configPath));

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
  let oneAtATime: { baseline: string; rows: Record<string, unknown>[] } | undefined;
  let resumedAgent: Record<string, unknown> | undefined;

  it('compares the agent with hand-made criteria from the same baseline; a method that cannot prune the model is marked, the others finish', () => {
    const { status, stdout, stderr } = autoprune(compareArgs);
    expect(status).toBe(0);
    // Before it starts: each row's time and the whole compare's, from steps timed on the baseline.
    expect(stderr).toMatch(/estimated time \S+ to \S+ \(rl \S+ to \S+, l1 \S+ to \S+, bn-scale \S+ to \S+\); from steps timed in/);
    const dir = join(runsDir, stdout.trim());
    const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
    oneAtATime = results;
    expect(results.rows.map((r: { method: string; status: string }) => [r.method, r.status])).toEqual([
      ['rl', 'done'],
      ['l1', 'done'],
      ['bn-scale', 'inapplicable'],
    ]);
    expect(results.rows[2].error).toMatch(/no BatchNormalization with a scale \(gamma\) follows any prunable group/);
    for (const row of results.rows.slice(0, 2)) {
      expect(row.theoreticalSpeedup).toBeGreaterThanOrEqual(1);
      expect(100 * (results.unpruned.validationAccuracy - row.validationAccuracy)).toBeLessThanOrEqual(2);
    }
    // Every row, the agent's too, ends in the compare's own folder (finishMethod); the agent's run records its search only.
    expect(results.rows.slice(0, 2).map((r: { modelPath: string }) => r.modelPath)).toEqual(['rl', 'l1'].map((m) => join(dir, 'models', m, 'model.json')));
    const agentRun = record(runsDir, results.rows[0].runId);
    expect([agentRun.status, agentRun.result.searchOnly, agentRun.result.modelPath]).toEqual(['done', true, undefined]);
    expect(agentRun.result.groups.length).toBeGreaterThan(0);
    const csv = readFileSync(join(dir, 'results.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe(
      'method,status,theoreticalSpeedup,compressionRatio,measuredSpeedupBatch256,validationAccuracy,testAccuracy,seconds,error,certified,certifiedDrop,certifiedUpperBound,certificationImages,testDropLow,testDropHigh',
    );
    expect(csv).toHaveLength(4);
    // Every finished row is certified on the same held-out images, with its test drop's interval.
    const held = results.holdout.certification;
    for (const row of results.rows.slice(0, 2)) {
      expect(row.certification.images).toBe(held);
      const chosen = row.certification.chosen >= 0 ? row.certification.path[row.certification.chosen] : { upperBound: 0 };
      expect(chosen.upperBound).toBeLessThanOrEqual(2);
      expect(row.testDropInterval[0]).toBeLessThanOrEqual(row.testDropInterval[1]);
    }
    expect(results.unpruned.certificationAccuracy).toBeGreaterThan(0);
    expect(stderr).toMatch(
      /unpruned\s+1\.00x[\s\S]*rl\s+[\d.]+x[\s\S]*l1\s+[\d.]+x[\s\S]*bn-scale\s+not applicable \(below\)[\s\S]*bn-scale not applicable: criterion bn-scale/,
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
      new RegExp(`${stdout.trim()}\\s+compare\\s+.*done\\s+2 methods done, 1 not applicable; most FLOPs removed: (rl|l1) [\\d.]+x`),
    );
    const show = autoprune([...common, 'show', stdout.trim()]).stdout;
    expect(show).toMatch(
      / {2}rl: FLOPs [\d.]+x, params [\d.]+x, time [\d.]+x at batch 1, validation [\d.]+%, certified drop -?[\d.]+ \(<= -?[\d.]+\)( from a fallback \([^)]+\))?, test [\d.]+%/,
    );
    expect(show).toMatch(/ {2}bn-scale: not applicable: criterion bn-scale: no BatchNormalization/);
    // Each row's time by phase: the agent's search phases come from its own run, the finish's from the row; together they are the row's time, counted once.
    for (const row of results.rows.filter((r: { phases?: unknown }) => r.phases !== undefined)) {
      const total = Object.values(row.phases as Record<string, number>).reduce((a, b) => a + b, 0);
      expect(total, `${row.method} ${JSON.stringify(row.phases)} ${row.seconds}`).toBeLessThanOrEqual(row.seconds + 2);
    }
    expect(show).toMatch(/\n {4}\d+m?\d*s? \(estimated \S+ to \S+\): [^\n]*candidate scoring [^\n]*bounds and certification/);
    expect(show).toMatch(/\n {2}l1 \([a-z]+\): [^\n]*\n {4}\d+m?\d*s? \(estimated \S+ to \S+\): [^\n]*fine-tunes /);
    expect(Object.keys(results.estimate.rows)).toEqual(['rl', 'l1', 'bn-scale']);
    expect(show).not.toContain('resume with');
    // The report can be redrawn from results.json, elsewhere.
    const out = join(runsDir, 'again.html');
    const redraw = autoprune([...common, 'report', stdout.trim(), '--out', out]);
    expect(redraw.status).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(html);
  });

  it('runs a criterion through the same method whichever command runs it: `criterion` searches as its compare row does, on the same splits', () => {
    const { status, stdout, stderr } = autoprune([
      ...common,
      'criterion',
      '--model',
      'lenet5',
      '--dataset',
      'mnist',
      '--validation-size',
      '500',
      '--criterion',
      'l1',
      '--ranking',
      'local',
      '--tolerance',
      '2',
      '--probes',
      '4',
      '--finetune-images',
      '192',
      '--final-finetune-epochs',
      '1',
    ]);
    expect(status, stderr).toBe(0);
    const alone = record(runsDir, stdout.trim()).result;
    const row = oneAtATime!.rows[1] as { variants: { ranking: string; probes: Record<string, unknown>[] }[]; ranking: string; certification: unknown };
    const inCompare = row.variants.find((v) => v.ranking === 'local')!;
    const probe = ({ ratio, validationAccuracy, drop, upperBound, withinTolerance }: Record<string, unknown>) => ({
      ratio,
      validationAccuracy,
      drop,
      upperBound,
      withinTolerance,
    });
    expect(alone.probes.map(probe)).toEqual(inCompare.probes.map(probe));
    // The same end: where the compare took local ranking too, the same certification on the same images.
    if (row.ranking === 'local') expect(alone.certification).toEqual(row.certification);
    expect(alone.phases.finetune).toBeGreaterThan(0);
    expect(autoprune([...common, 'show', stdout.trim()]).stdout).toMatch(/\ntime by phase: [^\n]*fine-tunes \d/);
  });

  it('runs the methods in parallel processes with --jobs and gets the same results as one at a time', () => {
    const { status, stdout, stderr } = autoprune([...compareArgs, '--jobs', '2']);
    expect(status, stderr).toBe(0);
    const threadsEach = Math.min(8, Math.max(1, Math.floor(availableParallelism() / 2)));
    expect(stderr).toMatch(new RegExp(`3 methods, 2 at a time, ${threadsEach} wasm threads? each`));
    expect(stderr).toMatch(/\[l1\] /);
    const results = JSON.parse(readFileSync(join(runsDir, stdout.trim(), 'results.json'), 'utf8'));
    expect(results.rows.map(rowOutcome)).toEqual(oneAtATime!.rows.map(rowOutcome));
    // The agent's learning is the same too, group by group.
    const curves = (rows: Record<string, unknown>[]) => (rows[0].agent as { iterations: unknown[] }[]).map((g) => g.iterations);
    expect(curves(results.rows)).toEqual(curves(oneAtATime!.rows));
  });

  it('runs a method as a typed job in a worker process, as --jobs does: line events, then its row; a job with a bad config fails once, in one line', async () => {
    const config = parsePruneConfig({ ...readConfigFile(configPath), model: oneAtATime!.baseline }, configPath);
    const jobsDir = tempDir();
    const inProcess = (job: CompareJob) =>
      new Promise<{ events: JobEvent[]; code: number | null }>((resolve) => {
        const events: JobEvent[] = [];
        const child = startJobProcess(
          job,
          (event) => events.push(event),
          () => {},
        );
        child.on('close', (code) => resolve({ events, code }));
      });
    const place = { runsDir: jobsDir, backend: 'wasm', threads: 1 };
    const done = await inProcess({ kind: 'method', method: 'bn-scale', config, probes: 4, ...place });
    expect(done.code).toBe(0);
    expect(done.events[0]).toEqual({ type: 'line', text: expect.stringMatching(/^backend: wasm \(forced.*1 kernel thread\)/) });
    const finished = done.events.at(-1) as Extract<JobEvent, { type: 'finished' }>;
    expect(finished.type).toBe('finished');
    expect(finished.row).toEqual(jobRow(jobsDir, finished.runId, 'bn-scale'));
    // The compare's own row (this model has no BatchNorm: the quickest job there is; --jobs above runs the others as jobs).
    expect(rowOutcome(finished.row)).toEqual(rowOutcome(oneAtATime!.rows[2]));
    const bad = await inProcess({ kind: 'method', method: 'l1', config: { ...config, tolerance: -1 }, probes: 4, ...place });
    expect(bad.code).toBe(1);
    expect(bad.events).toEqual([expect.objectContaining({ type: 'line' }), { type: 'failed', error: expect.stringMatching(/tolerance/) }]);
    expect(readdirSync(jobsDir)).toEqual([finished.runId]); // no run folder for the bad job
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
    expect(stderr).toMatch(
      /sensitivity probe 1: threshold -?[\d.]+ points, ratios [\d.]+\/[\d.]+\/[\d.]+, selection drop -?[\d.]+ points, bound if certified -?[\d.]+/,
    );
    expect(readFileSync(join(dir, 'report.html'), 'utf8')).toContain('<figure id="sensitivity"><svg');
  });

  it('stopped by Ctrl-C during the agent, records both runs as interrupted; resume keeps the finished rows and continues the agent', async () => {
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
    expect(autoprune([...common, 'show', id]).stdout).toContain(`resume with: autoprune resume ${id}`);

    // Resumed: l1's row stays as it was, the agent's run continues after its finished group, and the compare finishes.
    const resumed = autoprune([...common, 'resume', id]);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stdout.trim()).toBe(id);
    expect(resumed.stderr).toMatch(/resuming .*: l1 finished; to run: rl\n/);
    expect(resumed.stderr).toContain(`resuming ${join(runsDir, agentId)} (1 group finished)`);
    expect([record(runsDir, id).status, record(runsDir, agentId).status]).toEqual(['done', 'done']);
    const after = JSON.parse(readFileSync(join(runsDir, id, 'results.json'), 'utf8'));
    expect(after.rows.map((r: { method: string; status: string }) => [r.method, r.status])).toEqual([
      ['l1', 'done'],
      ['rl', 'done'],
    ]);
    // Its decisions and accuracies as they were; its time is measured again, side by side with the agent's model.
    const { latency: _, ...untimed } = after.rows[0];
    expect(untimed).toEqual(results.rows[0]);
    expect(after.rows.map((r: { latency?: unknown }) => r.latency !== undefined)).toEqual([true, true]);
    expect(after.rows[1].runId).toBe(agentId);
    resumedAgent = after.rows[1];
    expect(autoprune([...common, 'resume', id]).stderr).toMatch(/run ".*" has already finished/);
    expect(autoprune([...common, 'resume', id, '--json']).stderr).toMatch(/resume: --json does not apply to compare runs/);
  });

  it('resumes a --jobs compare stopped during the agent: its agent job continues, and ends as the one resumed in process', async () => {
    const stopped = await runUntil(
      [...common, 'compare', '--config', configPath, '--methods', 'l1,rl', '--probes', '2', '--jobs', '2'],
      /\[rl\] group 1 \(conv2\)/,
      'SIGINT',
    );
    expect(stopped.code).toBe(130);
    const id = /run: .*\/([^/\s]+compare[^/\s]+)\n/.exec(stopped.stderr)![1];
    const agentId = /\[rl\] run: .*\/([^/\s]+prune[^/\s]+)\n/.exec(stopped.stderr)![1];
    expect(record(runsDir, id).status).toBe('interrupted');
    // No method keeps running after Ctrl-C.
    const pids = [...stopped.stderr.matchAll(/== (?:l1|rl) \(pid (\d+)\)/g)].map((m) => Number(m[1]));
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
    const resumed = autoprune([...common, 'resume', id]);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/\[rl\] resuming .*\(1 group finished\)/);
    const rows = JSON.parse(readFileSync(join(runsDir, id, 'results.json'), 'utf8')).rows;
    expect(rows.map((r: { method: string; status: string }) => [r.method, r.status])).toEqual([
      ['l1', 'done'],
      ['rl', 'done'],
    ]);
    expect(rows[1].runId).toBe(agentId);
    // Same config and seed as the test above, stopped at the same group: resumed as a job or in process, the same decisions.
    const decisions = ({ theoreticalSpeedup, compressionRatio, validationAccuracy, layers }: Record<string, unknown>) => ({
      theoreticalSpeedup,
      compressionRatio,
      validationAccuracy,
      layers,
    });
    expect(decisions(rows[1])).toEqual(decisions(resumedAgent!));
  });

  it('lists a method whose job was killed as failed, says how to run it again, and resume runs only it (not one that cannot apply)', async () => {
    const killJob = (stderr: string) => process.kill(Number(/== l2 \(pid (\d+)\)/.exec(stderr)![1]), 'SIGKILL');
    const run = await runUntil(
      [...common, 'compare', '--config', configPath, '--methods', 'l1,l2,bn-scale', '--probes', '2', '--jobs', '2'],
      /\[l2\] .*probe 1/,
      [],
      killJob,
    );
    expect(run.code, run.stderr).toBe(0);
    const id = run.stdout.trim();
    expect(run.stderr).toMatch(/l2 failed: its process ended \(stopped by SIGKILL\)/);
    expect(run.stderr).toContain(`l2 failed; to run it again (the other rows are kept): autoprune resume ${id}`);
    expect(autoprune([...common, 'show', id]).stdout).toContain(`resume with: autoprune resume ${id}`);
    const before = JSON.parse(readFileSync(join(runsDir, id, 'results.json'), 'utf8')).rows;
    expect(before.map((r: { method: string; status: string }) => [r.method, r.status])).toEqual([
      ['l1', 'done'],
      ['l2', 'failed'],
      ['bn-scale', 'inapplicable'],
    ]);
    const resumed = autoprune([...common, 'resume', id]);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resuming .*: l1, bn-scale finished; to run: l2\n/);
    const after = JSON.parse(readFileSync(join(runsDir, id, 'results.json'), 'utf8')).rows;
    expect(after.map((r: { method: string; status: string }) => [r.method, r.status])).toEqual([
      ['l1', 'done'],
      ['l2', 'done'],
      ['bn-scale', 'inapplicable'],
    ]);
    const { latency: _, ...untimed } = after[0];
    const { latency: __, ...untimedBefore } = before[0];
    expect(untimed).toEqual(untimedBefore);
    expect(autoprune([...common, 'resume', id]).stderr).toMatch(/run ".*" has already finished/);
  });
});
