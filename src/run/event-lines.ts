/** A try-and-learn run's events as plain lines: what the CLI prints without the dashboard, and what a compare's job reports. */
import { describeCertification } from '../certify/certification.js';
import { formatBytes, percent, plural } from '../text.js';
import type { RunLog } from './log.js';
import { initialState, reduce, remainingSeconds, timeLeftText } from './progress-state.js';
import { modelShortName, peakResidentBytes } from './records.js';
import { formatReport } from './report.js';
import type { RunEvent } from './try-and-learn.js';

/** A run's event as a plain line or status (the CLI's line log, a compare job's lines; the dashboard renders the same stream). */
function logRunEvent(event: RunEvent, log: RunLog): void {
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

/** Said only when the activation cache is not in the backend: it is slower there, or absent. */
function cacheNote({ place, bytes }: Extract<RunEvent, { type: 'group-start' }>['activationCache']): string {
  if (place === 'host') return `; its activations (${formatBytes(bytes)}) are kept in host memory, over activationCache.backendMiB`;
  if (place === 'none') return '; its activations exceed activationCache.hostMiB: no cache, each candidate runs the whole network';
  return '';
}

/** A run shown as plain lines, with the time left after each group (from the same fold the dashboard shows). */
export function lineView(log: RunLog): { onEvent: (event: RunEvent) => void; close: () => Promise<void> } {
  let state = initialState();
  return {
    onEvent: (event) => {
      state = reduce(state, event);
      logRunEvent(event, log);
      const left = event.type === 'group-done' ? remainingSeconds(state) : undefined;
      if (left !== undefined && state.groups.some((g) => g.status !== 'done')) log.line(`  ${timeLeftText(left)}`);
    },
    close: async () => {},
  };
}
