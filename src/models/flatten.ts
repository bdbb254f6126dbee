/**
 * Nested models (a Sequential whose layers include a model, as transfer
 * learning and Teachable Machine exports are: a truncated MobileNet, then a
 * small head) become one flat functional model: the same layers, wired as
 * the nesting wired them, with the same weights. The dependency graph, the
 * surgery and the metrics then see every layer.
 */
import * as tf from '@tensorflow/tfjs';
import { ModelError } from '../errors.js';

interface LayerJson {
  class_name: string;
  name?: string;
  config: Record<string, unknown>;
  inbound_nodes?: [string, number, number, Record<string, unknown>?][][];
}

/** An output of a flat layer: its name, node and tensor index, as inbound nodes name them. */
type Ref = [string, number, number];

const MODEL_CLASSES = new Set(['Sequential', 'Model', 'Functional']);

/** Whether any layer of `model` is itself a model. */
export function isNested(model: tf.LayersModel): boolean {
  return model.layers.some((layer) => layer instanceof tf.LayersModel);
}

function findLayer(model: tf.LayersModel, name: string): tf.layers.Layer | undefined {
  for (const layer of model.layers) {
    if (layer.name === name && !(layer instanceof tf.LayersModel)) return layer;
    if (layer instanceof tf.LayersModel) {
      const found = findLayer(layer, name);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** A flat copy of a nested model (same weights); `source` names the model in errors. */
export async function flattenModel(model: tf.LayersModel, source: string): Promise<tf.LayersModel> {
  const topology = model.toJSON(null, false) as unknown as LayerJson;
  const layers: LayerJson[] = [];
  let inputName: string | undefined;

  const emit = (layer: LayerJson, inputs: [...Ref, Record<string, unknown>?][]): Ref => {
    const name = layer.config.name as string;
    if (layers.some((l) => l.name === name)) throw new ModelError(`${source}: two layers are named "${name}" once the nested models are flattened`);
    const config = { ...layer.config };
    if (layer.class_name !== 'InputLayer') delete config.batch_input_shape; // only a Sequential's first layer declares the input
    layers.push({
      name,
      class_name: layer.class_name,
      config,
      inbound_nodes: inputs.length === 0 ? [] : [inputs.map(([n, node, tensor, kwargs]) => [n, node, tensor, kwargs ?? {}])],
    });
    return [name, 0, 0];
  };
  const emitInput = (first: LayerJson): Ref => {
    if (inputName !== undefined) throw new ModelError(`${source}: a nested model declares a second input`);
    inputName = `${first.config.name as string}_input`;
    return emit(
      {
        class_name: 'InputLayer',
        config: { name: inputName, batch_input_shape: first.config.batch_input_shape, dtype: first.config.dtype ?? 'float32', sparse: false },
      },
      [],
    );
  };

  /** Applies a layer or a model (recursively) to `input` (undefined before the first layer); returns its output. */
  const apply = (layer: LayerJson, input: Ref | undefined): Ref => {
    if (layer.class_name === 'Sequential') {
      let ref = input;
      for (const inner of layer.config.layers as LayerJson[]) {
        if (inner.class_name === 'InputLayer') {
          // Keras lists a Sequential's Input: the model's input when it comes first, nothing to apply inside a nesting.
          if (ref === undefined) {
            inputName = inner.config.name as string;
            ref = emit(inner, []);
          }
          continue;
        }
        ref = apply(inner, ref ?? (MODEL_CLASSES.has(inner.class_name) ? undefined : emitInput(inner)));
      }
      if (ref === undefined) throw new ModelError(`${source}: the nested Sequential "${layer.config.name as string}" has no layers`);
      return ref;
    }
    if (MODEL_CLASSES.has(layer.class_name)) {
      const config = layer.config as { name: string; layers: LayerJson[]; input_layers: Ref[]; output_layers: Ref[] };
      if (config.input_layers.length !== 1 || config.output_layers.length !== 1) {
        throw new ModelError(
          `${source}: the nested model "${config.name}" has ${config.input_layers.length} inputs and ${config.output_layers.length} outputs; only one of each can be flattened`,
        );
      }
      const outputs = new Map<string, Ref>();
      for (const inner of config.layers) {
        const name = (inner.name ?? inner.config.name) as string;
        if (inner.class_name === 'InputLayer') {
          outputs.set(name, input ?? emit(inner, []));
          if (input === undefined) inputName = name;
          continue;
        }
        const nodes = inner.inbound_nodes ?? [];
        if (nodes.length !== 1)
          throw new ModelError(
            `${source}: layer "${name}" of the nested model "${config.name}" is used ${nodes.length} times; shared layers cannot be flattened`,
          );
        const inputs = nodes[0].map(([from, node, tensor, kwargs]) => {
          const ref = outputs.get(from);
          if (ref === undefined || node !== 0 || tensor !== 0)
            throw new ModelError(`${source}: layer "${name}" of "${config.name}" reads "${from}" in a way that cannot be flattened`);
          return [...ref, kwargs] as [...Ref, Record<string, unknown>?];
        });
        if (MODEL_CLASSES.has(inner.class_name)) {
          if (inputs.length !== 1) throw new ModelError(`${source}: the nested model "${name}" takes ${inputs.length} inputs`);
          outputs.set(name, apply(inner, [inputs[0][0], inputs[0][1], inputs[0][2]]));
        } else outputs.set(name, emit(inner, inputs));
      }
      const out = outputs.get(config.output_layers[0][0]);
      if (out === undefined) throw new ModelError(`${source}: the nested model "${config.name}" has no output layer ${config.output_layers[0][0]}`);
      return out;
    }
    return emit(layer, input === undefined ? [] : [input]);
  };

  const output = apply(topology, undefined);
  if (inputName === undefined) throw new ModelError(`${source}: found no input while flattening the nested models`);
  const flat = { class_name: 'Model', config: { name: topology.config.name, layers, input_layers: [[inputName, 0, 0]], output_layers: [output] } };
  let rebuilt: tf.LayersModel;
  try {
    rebuilt = await tf.models.modelFromJSON({ modelTopology: flat as unknown as tf.io.ModelJSON['modelTopology'] });
  } catch (err) {
    throw new ModelError(`${source}: could not flatten its nested models (${(err as Error).message})`);
  }
  for (const layer of rebuilt.layers) {
    const original = findLayer(model, layer.name);
    if (original !== undefined && original.weights.length > 0) layer.setWeights(original.getWeights());
  }
  return rebuilt;
}
