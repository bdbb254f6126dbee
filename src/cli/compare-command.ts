/** `autoprune compare` options that only the command line has (the comparison itself is src/compare/compare.ts). */
import { type Method, METHODS } from '../compare/results.js';
import { UsageError } from './usage-error.js';

export function parseMethods(list: string): Method[] {
  const names = list
    .split(',')
    .map((m) => m.trim())
    .filter((m) => m.length > 0);
  const unknown = names.filter((m) => !(METHODS as readonly string[]).includes(m));
  if (unknown.length > 0)
    throw new UsageError(`--methods: unknown method${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; choose from ${METHODS.join(', ')}`);
  if (names.length === 0) throw new UsageError(`--methods: name at least one of ${METHODS.join(', ')}`);
  return [...new Set(names)] as Method[];
}
