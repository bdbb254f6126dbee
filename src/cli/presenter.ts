/**
 * Where a try-and-learn run's events go: one JSON line each (--json), the
 * live dashboard on a terminal, or plain lines (not a terminal, or --no-tui).
 * The run itself is src/run/prune-run.ts.
 */
import { Subject } from 'rxjs';
import { describeCertification } from '../certify/certification.js';
import { formatReport } from '../run/report.js';
import type { RunEvent } from '../run/try-and-learn.js';
import { initialState, reduce, remainingSeconds, timeLeftText } from './dashboard-state.js';
import type { ProgressLog } from './log.js';
import { formatBytes, percent, plural } from '../text.js';
import { modelShortName, peakResidentBytes } from '../run/records.js';

/** The plain line log of a run's events (the dashboard renders the same stream). */
function logEvent(event: RunEvent, log: ProgressLog): void {
  switch (event.type) {
    case 'run-start':
      log.line(
        `try-and-learn on ${modelShortName(event.model, event.dataset)} / ${event.dataset}: tolerance ${plural(event.tolerance, 'point')}, seed ${event.seed}, ${plural(event.groups.length, 'group')}, ` +
          `unpruned accuracy on the selection split (where every choice is made; the certification images are apart) ${percent(event.baseValidationAccuracy)}${event.resumedGroups > 0 ? `; resuming after ${plural(event.resumedGroups, 'finished group')}` : ''}`,
      );
      break;
    case 'group-start':
      log.line(
        `group ${event.groupId} (${event.producers.join(', ')}): ${event.size} channels, ${event.index + 1}/${event.count}: training the agent; validation may drop ${event.allowedDrop.toFixed(2)} points by the end of this group${cacheNote(event.activationCache)}`,
      );
      break;
    case 'iteration': {
      const r = event.record;
      log.status(
        `  group ${event.groupId} iteration ${r.iteration}/${event.maxIterations}: mean reward ${r.meanReward.toFixed(3)}, best ${r.bestReward.toFixed(3)}, ` +
          `samples' accuracy before fine-tuning ${percent(r.meanAccuracy)} (reward budget ${percent(event.floor)}), samples keep ${r.meanKept.toFixed(1)}, greedy mask ${r.greedyKept}, entropy ${r.entropy.toFixed(3)}` +
          (r.raceSignFlips === undefined ? '' : `, advantages the race flipped ${r.raceSignFlips}`),
      );
      break;
    }
    case 'finetune-progress': {
      const p = event.progress;
      log.status(
        `  fine-tuning ${event.groupId === 'final' ? 'the final model' : `after group ${event.groupId}`}: epoch ${p.epoch}/${p.epochs} batch ${p.batch}/${p.batches} loss ${p.loss.toFixed(4)}`,
      );
      break;
    }
    case 'group-done': {
      const d = event.decision;
      log.line(
        `group ${d.groupId}: kept ${d.kept.length}/${d.size} (agent ${d.agentKept} after ${d.iterations.length} iterations, ${d.converged ? 'converged' : 'not converged'}; ` +
          (d.probes.length === 0
            ? 'no probe: the group stays whole); '
            : d.finetuned === false
              ? `count search ${d.probes.map((p) => `${p.kept}${p.withinBudget ? '' : '!'}`).join(' -> ')}, "!" = under the reward's floor ${percent(d.rewardBudget.reference - d.rewardBudget.tolerance / 100)}); `
              : `count search ${d.probes.map((p) => `${p.kept}${p.withinBudget ? '' : '!'}`).join(' -> ')}, "!" = over this group's budget (${d.allowedDrop.toFixed(2)} of the room the bound leaves); `) +
          `${d.finetuned === false ? 'reward subset before fine-tuning' : 'validation'} ${percent(d.validationAccuracy)}; FLOPs ${(event.originalMacs / d.macs).toFixed(2)}x, params ${(event.originalParams / d.params).toFixed(2)}x so far; ${d.seconds.toFixed(0)} s`,
      );
      break;
    }
    case 'run-done':
      log.line(describeCertification(event.summary.certification));
      for (const line of formatReport(event.summary.report)) log.line(line);
      log.line(
        `agent search: ${event.summary.evaluationsPerSecond.toFixed(1)} candidate networks/s (${event.summary.candidateImagesPerSecond.toFixed(0)} images/s); whole run ${(event.summary.seconds / 60).toFixed(1)} min`,
      );
      log.line(`saved ${event.summary.modelPath}; peak memory ${formatBytes(peakResidentBytes())}`);
      if (event.summary.uncertified !== undefined) log.line(`kept the uncertified final model: ${event.summary.uncertified.modelPath}`);
      break;
    case 'search-done':
      log.line(
        `agent search done: ${event.groups.length} groups, ${event.totals.evaluationsPerSecond.toFixed(1)} candidate networks/s (${event.totals.candidateImagesPerSecond.toFixed(0)} images/s), ${(event.totals.seconds / 60).toFixed(1)} min; the final fine-tune and certification follow`,
      );
      break;
    case 'error':
      break;
  }
}

export interface Presenter {
  onEvent: (e: RunEvent) => void;
  close: () => Promise<void>;
}

export async function presenter({ json, dashboard }: { json: boolean; dashboard: boolean }, log: ProgressLog): Promise<Presenter> {
  if (json) return { onEvent: (e) => process.stdout.write(`${JSON.stringify(e)}\n`), close: async () => {} };
  if (!dashboard) {
    // Plain lines fold the dashboard's state too, for the time left after each group.
    let state = initialState();
    return {
      onEvent: (e) => {
        state = reduce(state, e);
        logEvent(e, log);
        const left = e.type === 'group-done' ? remainingSeconds(state) : undefined;
        if (left !== undefined && state.groups.some((g) => g.status !== 'done')) log.line(`  ${timeLeftText(left)}`);
      },
      close: async () => {},
    };
  }
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

/** Said only when the activation cache is not in the backend: it is slower there, or absent. */
function cacheNote({ place, bytes }: Extract<RunEvent, { type: 'group-start' }>['activationCache']): string {
  if (place === 'host') return `; its activations (${formatBytes(bytes)}) are kept in host memory, over activationCache.backendMiB`;
  if (place === 'none') return '; its activations exceed activationCache.hostMiB: no cache, each candidate runs the whole network';
  return '';
}
