/**
 * Ctrl-C, SIGTERM and SIGHUP for the CLI: the library installs no signal
 * handler and takes AbortSignals (StopSignals); this maps the process's
 * signals to them. The first asks the run to stop after its current batch,
 * candidate or probe (it records itself interrupted and its function throws
 * an InterruptedError, which main turns into the signal's exit code); a
 * second records the run interrupted at once and exits.
 */
import type { StopSignals } from '../run/records.js';

/** The signals that stop a run, with the exit code each gives (128 + the signal's number). */
export const STOP_SIGNALS = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;
export type StopSignal = keyof typeof STOP_SIGNALS;

let received: StopSignal | undefined;

/** The stop signals of this process's run (installed once; a command runs one run at a time). */
export function stopOnSignals(announce: (line: string) => void): Required<StopSignals> {
  const stop = new AbortController();
  const now = new AbortController();
  for (const signal of Object.keys(STOP_SIGNALS) as StopSignal[]) {
    process.on(signal, () => {
      if (received === undefined) {
        received = signal;
        announce(
          `interrupted (${signal}): stopping after the current batch, candidate or probe; what finished is kept (${signal === 'SIGINT' ? 'Ctrl-C' : signal} again quits at once)`,
        );
        stop.abort(signal);
        return;
      }
      // The run records itself (synchronously) as it listens; then nothing is left to wait for.
      now.abort(`a second ${signal}`);
      process.exit(STOP_SIGNALS[signal]);
    });
  }
  return { signal: stop.signal, stopNow: now.signal };
}

/** The exit code of the signal that stopped this process's run (Ctrl-C's when the stop came from elsewhere). */
export const stoppedExitCode = (): number => STOP_SIGNALS[received ?? 'SIGINT'];
