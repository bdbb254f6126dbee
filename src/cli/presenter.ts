/** `autoprune prune` and `autoprune resume` as lines: the run's events in plain text (the run itself is src/run/prune-run.ts). */
import { describeCertification } from '../certify/certification.js';
import { formatReport } from '../prune/report.js';
import type { RunEvent } from '../run/try-and-learn.js';
import type { ProgressLog } from './log.js';
import { percent, plural } from '../report/text.js';

/** The plain line log of a run's events (the dashboard renders the same stream). */
export function logEvent(event: RunEvent, log: ProgressLog): void {
  switch (event.type) {
    case 'run-start':
      log.line(
        `try-and-learn on ${event.model} / ${event.dataset}: tolerance ${plural(event.tolerance, 'point')}, seed ${event.seed}, ${plural(event.groups.length, 'group')}, ` +
          `unpruned accuracy on the selection split (where every choice is made; the reward's and the certification's images are apart) ${percent(event.baseValidationAccuracy)}${event.resumedGroups > 0 ? `; resuming after ${plural(event.resumedGroups, 'finished group')}` : ''}`,
      );
      break;
    case 'group-start':
      log.line(
        `group ${event.groupId} (${event.producers.join(', ')}): ${event.size} channels, ${event.index + 1}/${event.count}: training the agent; validation may drop ${event.allowedDrop.toFixed(2)} points by the end of this group`,
      );
      break;
    case 'iteration': {
      const r = event.record;
      log.status(
        `  group ${event.groupId} iteration ${r.iteration}/${event.maxIterations}: mean reward ${r.meanReward.toFixed(3)}, best ${r.bestReward.toFixed(3)}, ` +
          `samples' accuracy before fine-tuning ${percent(r.meanAccuracy)} (reward budget ${percent(event.floor)}), samples keep ${r.meanKept.toFixed(1)}, greedy mask ${r.greedyKept}, entropy ${r.entropy.toFixed(3)}`,
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
            : `count search ${d.probes.map((p) => `${p.kept}${p.withinBudget ? '' : '!'}`).join(' -> ')}, "!" = over this group's budget (${d.allowedDrop.toFixed(2)} of the room the bound leaves); `) +
          `validation ${percent(d.validationAccuracy)}; FLOPs ${(event.originalMacs / d.macs).toFixed(2)}x, params ${(event.originalParams / d.params).toFixed(2)}x so far; ${d.seconds.toFixed(0)} s`,
      );
      break;
    }
    case 'run-done':
      log.line(describeCertification(event.summary.certification));
      for (const line of formatReport(event.summary.report)) log.line(line);
      log.line(
        `agent search: ${event.summary.evaluationsPerSecond.toFixed(1)} candidate networks/s (${event.summary.candidateImagesPerSecond.toFixed(0)} images/s); whole run ${(event.summary.seconds / 60).toFixed(1)} min`,
      );
      log.line(`saved ${event.summary.modelPath}`);
      if (event.summary.uncertified !== undefined) log.line(`kept the uncertified final model: ${event.summary.uncertified.modelPath}`);
      break;
    case 'error':
      break;
  }
}
