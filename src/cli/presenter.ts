/**
 * Where a try-and-learn run's events go: one JSON line each (--json), the
 * live dashboard on a terminal, or plain lines (not a terminal, or --no-tui).
 * The run itself is src/run/prune-run.ts.
 */
import { Subject } from 'rxjs';
import type { RunEvent } from '../run/try-and-learn.js';
import type { ProgressLog } from './log.js';
import { lineView } from '../run/event-lines.js';

export interface Presenter {
  onEvent: (e: RunEvent) => void;
  close: () => Promise<void>;
}

export async function presenter({ json, dashboard }: { json: boolean; dashboard: boolean }, log: ProgressLog): Promise<Presenter> {
  if (json) return { onEvent: (e) => process.stdout.write(`${JSON.stringify(e)}\n`), close: async () => {} };
  if (!dashboard) return lineView(log);
  const { showDashboard } = await import('./dashboard.js'); // ink and react load only for the dashboard
  const events = new Subject<RunEvent>();
  let stop: (() => Promise<void>) | undefined;
  return {
    onEvent: (e) => {
      stop ??= showDashboard(events); // from the first event on: what comes before (baseline training) uses the line log
      events.next(e);
    },
    close: async () => {
      events.complete();
      await stop?.();
    },
  };
}
