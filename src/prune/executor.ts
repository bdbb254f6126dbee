/**
 * Runs a layers model one layer at a time over its dependency graph, so that
 * callers can read intermediate activations, scale a layer's output by a gate
 * (the handle for gradient-based criteria), or start from cached activations
 * and run only the rest of the network.
 *
 * Call inside tf.tidy (or dispose the results): every tensor it returns is new
 * except those passed in through `given`.
 */
import * as tf from '@tensorflow/tfjs';
import type { DependencyGraph } from './graph.js';

export interface ExecuteOptions {
  /** Multiply these layers' outputs by the given tensor (broadcast over the output). */
  gates?: Map<string, tf.Tensor>;
  /** Layers whose outputs to return in `captured`. */
  capture?: Iterable<string>;
  /** Use these tensors as the outputs of these layers instead of computing them (and what feeds only them). */
  given?: Map<string, tf.Tensor>;
  /** Run these layers instead of the model's own (same name): pruned stand-ins for a candidate. */
  replace?: Map<string, tf.layers.Layer>;
  /** Run BatchNorm / dropout in training mode. */
  training?: boolean;
  /** Called with each computed layer's inputs just before it runs (adaptive BatchNorm sets statistics here). */
  beforeLayer?: (name: string, inputs: tf.Tensor[]) => void;
  /**
   * Dispose each layer's output once every layer that reads it has run (not
   * the captured or given ones, nor the input): the memory of a few layers
   * instead of the whole network's (MobileNetV2 at 224 px: 83 MB of outputs
   * per image). Not under a gradient, whose tape needs those tensors.
   */
  release?: boolean;
}

export interface ExecuteResult {
  output: tf.Tensor;
  captured: Map<string, tf.Tensor>;
}

export function outputLayerName(graph: DependencyGraph): string {
  if (graph.model.outputs.length !== 1) throw new Error(`the model has ${graph.model.outputs.length} outputs; autoprune handles single-output classifiers`);
  return graph.model.outputs[0].sourceLayer.name;
}

/** `input` may be omitted when `given` covers every path from the input. */
export function execute(graph: DependencyGraph, input: tf.Tensor | undefined, options: ExecuteOptions = {}): ExecuteResult {
  const values = new Map<string, tf.Tensor>(options.given ?? []);
  const kwargs = { training: options.training ?? false };
  const output = outputLayerName(graph);
  const capture = [...(options.capture ?? [])];
  const readers = options.release ? readersOf(graph, [output, ...capture], values) : undefined;
  const kept = new Set([...capture, ...values.keys()]);
  /** After `name` ran: its inputs no later layer reads are freed. */
  const release = (name: string, inputs: tf.Tensor[], out: tf.Tensor) => {
    graph.node(name).inputs.forEach((inputName, i) => {
      const left = readers!.get(inputName)! - 1;
      readers!.set(inputName, left);
      if (left > 0 || kept.has(inputName) || inputs[i] === out || inputs[i] === input) return;
      values.delete(inputName);
      inputs[i].dispose();
    });
  };
  const evaluate = (name: string): tf.Tensor => {
    const known = values.get(name);
    if (known !== undefined) return known;
    const node = graph.node(name);
    let out: tf.Tensor;
    if (node.kind === 'input') {
      if (input === undefined) throw new Error(`execute: layer "${name}" needs the model input, which was not given`);
      out = input;
    } else {
      const inputs = node.inputs.map(evaluate);
      const layer = options.replace?.get(name) ?? node.layer;
      options.beforeLayer?.(name, inputs);
      out = layer.apply(inputs.length === 1 ? inputs[0] : inputs, kwargs) as tf.Tensor;
      if (readers !== undefined) release(name, inputs, out);
    }
    const gate = options.gates?.get(name);
    if (gate !== undefined) out = tf.mul(out, gate);
    values.set(name, out);
    return out;
  };
  const result = evaluate(output);
  const captured = new Map<string, tf.Tensor>();
  for (const name of capture) captured.set(name, evaluate(name));
  return { output: result, captured };
}

/** How many layers that the roots need read each layer's output (given layers are not looked through). */
function readersOf(graph: DependencyGraph, roots: string[], given: Map<string, tf.Tensor>): Map<string, number> {
  const readers = new Map<string, number>();
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    const node = graph.node(name);
    if (given.has(name) || node.kind === 'input') return;
    for (const input of node.inputs) {
      readers.set(input, (readers.get(input) ?? 0) + 1);
      visit(input);
    }
  };
  roots.forEach(visit);
  return readers;
}
