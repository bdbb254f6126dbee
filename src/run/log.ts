/**
 * Where library functions that run for long report progress: permanent lines
 * and a transient status. The CLI's ProgressLog implements it; a caller of
 * the library can pass console-backed functions or ignore both.
 */
export interface RunLog {
  line(message: string): void;
  status(message: string): void;
}

/** A RunLog that prints nothing. */
export const SILENT_LOG: RunLog = { line: () => {}, status: () => {} };

/** Progress while a folder of images is decoded (a cached folder decodes nothing). */
export function decodeProgress(log: RunLog): (decoded: number, total: number) => void {
  return (decoded, total) => {
    if (decoded === total) log.line(`decoded ${total} image${total === 1 ? '' : 's'} (cached for the next run)`);
    else log.status(`decoding images: ${decoded}/${total}`);
  };
}
