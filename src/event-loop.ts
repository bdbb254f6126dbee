/**
 * Lets pending signals and I/O run. wasm kernels resolve their promises as
 * microtasks, so a long loop of them (training batches, evaluations, the
 * agent's iterations) never yields to the event loop by itself, and a Ctrl-C
 * handler would wait until the loop ends.
 */
export const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));
