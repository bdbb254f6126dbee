/** Text for the terminal and log lines: counts with their noun, accuracies, and plain-text tables. */

/** "1 group", "3 groups". */
export const plural = (count: number, noun: string): string => `${count.toLocaleString('en-US')} ${noun}${count === 1 ? '' : 's'}`;

/**
 * An accuracy as "97.12%". Accuracies are fractions throughout autoprune
 * (records, events, the API); drops and tolerances are percentage points.
 * `missing` stands for an absent one (or a NaN, which JSON records as null).
 */
export const percent = (accuracy: number | null | undefined, missing = '-'): string =>
  accuracy === undefined || accuracy === null ? missing : `${(100 * accuracy).toFixed(2)}%`;

/** A plain-text table: left-aligned text, right-aligned numbers. */
export function formatTable(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? c.toLocaleString('en-US') : c)))];
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'));
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

/** "412 MiB", "3.2 GiB": a byte count in binary units. */
export const formatBytes = (bytes: number): string => (bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(1)} GiB` : `${(bytes / 1024 ** 2).toFixed(0)} MiB`);

/** "42s", "12m03s", "3h07m": a duration as a person reads it. */
export function formatDuration(seconds: number): string {
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole}s`;
  if (whole < 3600) return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s`;
  const minutes = Math.round(whole / 60);
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}
