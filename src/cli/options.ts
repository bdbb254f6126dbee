/** Option parsers for commander: each rejects bad values with a message naming what was expected. */
import { InvalidArgumentError } from 'commander';

export function integerIn(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer from ${min}${max === Number.MAX_SAFE_INTEGER ? ' up' : ` to ${max}`}, got "${value}"`);
    }
    return n;
  };
}

export function numberIn(min: number, max: number, { minExclusive = false, maxExclusive = false } = {}) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || (minExclusive ? n <= min : n < min) || (maxExclusive ? n >= max : n > max)) {
      throw new InvalidArgumentError(`expected a number ${minExclusive ? '>' : '>='} ${min} and ${maxExclusive ? '<' : '<='} ${max}, got "${value}"`);
    }
    return n;
  };
}

