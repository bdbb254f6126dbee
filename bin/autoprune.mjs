#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx, so a clone needs no build step.
import { tsImport } from 'tsx/esm/api';

const { main } = await tsImport('../src/cli/main.ts', import.meta.url);
const code = await main(process.argv);
// A command may have set its own exit code (130 after Ctrl-C); an error code wins.
if (code !== 0 || process.exitCode === undefined) process.exitCode = code;
