/** The import structure the code relies on: layers that import only downwards, no cycles, a CLI that is a shell over the library. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import madge from 'madge';
import { describe, expect, it } from 'vitest';

/** From the bottom up: a file may import its own layer and those below, never one above. */
const LAYERS = [
  ['src/errors.ts', 'src/text.ts', 'src/arguments.ts', 'src/event-loop.ts', 'src/phases.ts', 'src/backend/', 'src/data/', 'src/models/'], // foundations
  ['src/prune/', 'src/latency/'], // what is coupled, how to prune, what it costs
  ['src/train/', 'src/certify/'], // training, evaluation, bounds
  ['src/heuristics/', 'env/', 'agent/'], // the policies: criteria, the environment, the agent
  ['src/run/'], // the runs and their records
  ['src/compare/'], // every method side by side, report.html
  ['src/index.ts', 'src/cli/'], // the library's face and the command line
];

describe('architecture', () => {
  it('imports only downwards through the layers, has no import cycle, no library module importing the CLI, and no command importing another', async () => {
    const graph = await madge(['src', 'agent', 'env'], { baseDir: '.', fileExtensions: ['ts', 'tsx'], tsConfig: 'tsconfig.json' });
    expect(graph.circular()).toEqual([]);
    const imports = Object.entries(graph.obj());
    expect(imports.length).toBeGreaterThan(40); // the whole tree was read
    const layerOf = (file: string) => LAYERS.findIndex((layer) => layer.some((prefix) => file.startsWith(prefix)));
    expect(imports.map(([file]) => file).filter((file) => layerOf(file) < 0)).toEqual([]); // every file has a layer
    const upward = imports.flatMap(([file, deps]) => deps.filter((d) => layerOf(d) > layerOf(file)).map((d) => `${file} -> ${d}`));
    expect(upward).toEqual([]);
    const intoCli = imports.filter(([file, deps]) => !file.startsWith('src/cli/') && deps.some((d) => d.startsWith('src/cli/')));
    expect(intoCli).toEqual([]);
    const command = (file: string) => /^src\/cli\/.*-command\.tsx?$/.test(file);
    const commandToCommand = imports.filter(([file, deps]) => command(file) && deps.some(command));
    expect(commandToCommand).toEqual([]);
  }, 60_000);

  it('acts on the process only in its entry points: the CLI and the worker process of a compare job', () => {
    const files = ['src', 'env', 'agent'].flatMap((dir) =>
      (readdirSync(dir, { recursive: true }) as string[]).filter((f) => /\.tsx?$/.test(f)).map((f) => join(dir, f)),
    );
    const entryPoint = (file: string) => file.startsWith('src/cli/') || file === 'src/compare/job-process.ts';
    const acting = files.filter((file) => /process\.(exit|on|once)\(/.test(readFileSync(file, 'utf8')));
    expect(acting.filter((file) => !entryPoint(file))).toEqual([]);
    expect(acting).toContain('src/compare/job-process.ts'); // the check reads what it should
  });

  it('defines every error class in src/errors.ts, where every error a user can act on is a UserError', async () => {
    const files = ['src', 'env', 'agent'].flatMap((dir) =>
      (readdirSync(dir, { recursive: true }) as string[]).filter((f) => /\.tsx?$/.test(f)).map((f) => join(dir, f)),
    );
    expect(files.length).toBeGreaterThan(40);
    const defining = files.filter((file) => /class \w+ extends \w*Error\b/.test(readFileSync(file, 'utf8')));
    expect(defining).toEqual(['src/errors.ts']);
    const errors = await import('../../src/errors.js');
    const classes = Object.entries(errors).filter(([name]) => name !== 'UserError' && name !== 'InterruptedError');
    expect(classes.length).toBeGreaterThan(10);
    for (const [name, ErrorClass] of classes) expect(new (ErrorClass as typeof Error)('x'), name).toBeInstanceOf(errors.UserError);
    expect(new errors.InterruptedError()).not.toBeInstanceOf(errors.UserError); // a stop on request is not the user's mistake
  });
});
