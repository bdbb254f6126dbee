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

/** "0.485,0.456,0.406": per-channel numbers. */
export function numberList(value: string): number[] {
  const numbers = value.split(',').map((v) => Number(v.trim()));
  if (value.trim() === '' || numbers.some((n) => !Number.isFinite(n)))
    throw new InvalidArgumentError(`expected comma-separated numbers like 0.485,0.456,0.406, got "${value}"`);
  return numbers;
}

/** "32x32": an image height and width. */
export function imageSize(value: string): [number, number] {
  const match = /^(\d+)x(\d+)$/.exec(value.trim());
  if (match === null || Number(match[1]) < 1 || Number(match[2]) < 1) throw new InvalidArgumentError(`expected HEIGHTxWIDTH like 32x32, got "${value}"`);
  return [Number(match[1]), Number(match[2])];
}
