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

/** Progress while images are decoded or resized (a cached folder decodes nothing), and whether the cache took them. */
export function decodeProgress(log: RunLog): {
  onProgress: (decoded: number, total: number) => void;
  onCacheWrite: (written: boolean, file: string) => void;
} {
  return {
    onProgress: (decoded, total) => {
      if (decoded === total) log.line(`decoded ${total} image${total === 1 ? '' : 's'}`);
      else log.status(`decoding images: ${decoded}/${total}`);
    },
    onCacheWrite: (written, file) =>
      log.line(written ? `cached them in ${file} for the next run` : `could not write the cache ${file}; the next run decodes them again`),
  };
}
