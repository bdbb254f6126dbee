/** The import structure the code relies on: no cycles, a CLI that is a shell over the library. */
import madge from 'madge';
import { describe, expect, it } from 'vitest';

describe('architecture', () => {
  it('has no import cycle, no library module importing the CLI, and no command importing another', async () => {
    const graph = await madge(['src', 'agent', 'env'], { baseDir: '.', fileExtensions: ['ts', 'tsx'], tsConfig: 'tsconfig.json' });
    expect(graph.circular()).toEqual([]);
    const imports = Object.entries(graph.obj());
    expect(imports.length).toBeGreaterThan(40); // the whole tree was read
    const intoCli = imports.filter(([file, deps]) => !file.startsWith('src/cli/') && deps.some((d) => d.startsWith('src/cli/')));
    expect(intoCli).toEqual([]);
    const command = (file: string) => /^src\/cli\/.*-command\.tsx?$/.test(file);
    const commandToCommand = imports.filter(([file, deps]) => command(file) && deps.some(command));
    expect(commandToCommand).toEqual([]);
  }, 60_000);
});
