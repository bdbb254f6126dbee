/**
 * Times forward passes of several models, the same code in this process and
 * in a browser page (served as is, so it is plain JavaScript): each model
 * warmed up, then `rounds` rounds over all of them (the order reversed every
 * other round, so that a machine that speeds up or slows down meanwhile
 * affects them alike); in a round, one block of calls per model, as many as
 * make the block last at least `minBlockMs` (a browser's clock has 0.1 ms steps).
 * Each call waits for the output, as a page that shows a prediction does.
 *
 * Returns, per model, the milliseconds per call of each round.
 */
export async function timeModels(tf, models, batch, rounds = 5, minBlockMs = 20) {
  const inputs = models.map((model) => model.inputs.map((input) => tf.zeros([batch, ...input.shape.slice(1)])));
  const once = async (i) => {
    const output = models[i].predict(inputs[i].length === 1 ? inputs[i][0] : inputs[i], { batchSize: batch });
    const outputs = Array.isArray(output) ? output : [output];
    await outputs[0].data();
    tf.dispose(outputs);
  };
  const calls = [];
  for (let i = 0; i < models.length; i++) {
    for (let w = 0; w < 3; w++) await once(i);
    // Doubled until a block lasts minBlockMs: one slow first call (a compile, the machine busy) would leave the block too short to time.
    let n = 1;
    for (;;) {
      const start = performance.now();
      for (let c = 0; c < n; c++) await once(i);
      if (performance.now() - start >= minBlockMs) break;
      n *= 2;
    }
    calls.push(n);
  }
  const samples = models.map(() => []);
  for (let round = 0; round < rounds; round++) {
    const order = models.map((_, i) => i);
    if (round % 2 === 1) order.reverse();
    for (const i of order) {
      await once(i);
      const start = performance.now();
      for (let c = 0; c < calls[i]; c++) await once(i);
      samples[i].push((performance.now() - start) / calls[i]);
    }
  }
  tf.dispose(inputs.flat());
  return samples;
}
