/**
 * The live terminal dashboard (ink): subscribes to a run's event stream and
 * renders the folded state at most every `intervalMs`, so drawing never slows
 * the run however fast events arrive.
 */
import { Box, render, Text } from 'ink';
import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import type { Observable } from 'rxjs';
import type { RunEvent } from '../run/try-and-learn.js';
import { percent } from '../text.js';
import { modelShortName } from '../run/records.js';
import { bar, type DashboardState, finetuneDone, initialState, minutes, reduce, remainingSeconds, sparkline, timeLeftText } from '../run/progress-state.js';

const STATUS_COLOR = { waiting: 'gray', searching: 'yellow', 'fine-tuning': 'cyan', done: 'green' } as const;

export function DashboardView({ state, now }: { state: DashboardState; now: number }) {
  const { search, finetune } = state;
  const remaining = remainingSeconds(state, now);
  const floor = state.baseValidation - state.tolerance / 100;
  return (
    <Box flexDirection="column">
      <Text bold>
        autoprune · {modelShortName(state.model, state.dataset)} on {state.dataset} · backend {state.backend} · tolerance {state.tolerance} pt · seed{' '}
        {state.seed}
      </Text>
      <Text>
        validation <Text color={state.validation >= floor ? 'green' : 'red'}>{percent(state.validation)}</Text> · floor {percent(floor)} (unpruned{' '}
        {percent(state.baseValidation)} - {state.tolerance} pt)
        {state.groupAllowedDrop !== undefined ? ` · after this group ≥ ${percent(state.baseValidation - state.groupAllowedDrop / 100)}` : ''}
      </Text>
      {state.groups.map((g) => (
        <Text key={g.id}>
          <Text color={STATUS_COLOR[g.status]}>{g.status.padEnd(11)}</Text> group {g.id} {g.producers.join(', ').padEnd(24)}{' '}
          {g.kept !== undefined ? `${g.kept}/${g.size} kept` : `${g.size} filters`}
        </Text>
      ))}
      {search && search.iteration > 0 && (
        <Box flexDirection="column" marginTop={1}>
          <Text>
            group {search.groupId}: iteration {search.iteration}/{search.maxIterations} · greedy keeps {search.greedyKept}/{search.size} (
            {((100 * search.greedyKept) / search.size).toFixed(0)}%) · samples keep {search.sampledKept.toFixed(1)} · entropy {search.entropy.toFixed(3)}
          </Text>
          <Text>
            mean reward <Text color="magenta">{sparkline(search.rewards)}</Text> {search.rewards.at(-1)?.toFixed(3)}
          </Text>
          <Text>
            reward images, before fine-tuning: samples <Text color={search.accuracy >= search.floor ? 'green' : 'red'}>{percent(search.accuracy)}</Text> ·
            reward budget ≥ {percent(search.floor)}
          </Text>
        </Box>
      )}
      {finetune && (
        <Text>
          fine-tuning {finetune.label}: {bar(finetuneDone(finetune))} epoch {finetune.epoch}/{finetune.epochs}
        </Text>
      )}
      <Text>
        FLOPs {state.flopsReduction.toFixed(2)}x · params {state.paramsReduction.toFixed(2)}x · elapsed {minutes((now - state.startedAt) / 1000)}
      </Text>
      {remaining !== undefined && !state.done && <Text>{timeLeftText(remaining)}</Text>}
      {state.done?.lines.map((line) => (
        <Text key={line} color="green">
          {line}
        </Text>
      ))}
      {state.error && <Text color="red">error: {state.error}</Text>}
    </Box>
  );
}

export function Dashboard({ events, intervalMs = 100 }: { events: Observable<RunEvent>; intervalMs?: number }) {
  const latest = useRef(initialState());
  const [snapshot, setSnapshot] = useState({ state: latest.current, now: Date.now() });
  // Subscribe before the first paint, so no early event is missed.
  useLayoutEffect(() => {
    const subscription = events.subscribe({ next: (e) => (latest.current = reduce(latest.current, e)), error: () => {} });
    return () => subscription.unsubscribe();
  }, [events]);
  useEffect(() => {
    const timer = setInterval(() => setSnapshot({ state: latest.current, now: Date.now() }), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return <DashboardView state={snapshot.state} now={snapshot.now} />;
}

/** Renders the dashboard on stderr until the stream ends; returns a function that waits for the last frame. */
export function showDashboard(events: Observable<RunEvent>): () => Promise<void> {
  const app = render(<Dashboard events={events} />, { stdout: process.stderr, patchConsole: false });
  return async () => {
    await new Promise((resolve) => setTimeout(resolve, 150)); // one more frame with the final state
    app.unmount();
  };
}
