/**
 * Fixes to TF.js layers 4.22 that pruned models depend on. Importing this
 * module applies them once.
 *
 * SeparableConv2D.getConfig omits depthMultiplier, so a separable conv with a
 * multiplier above 1 comes back from model.json (or any toJSON round trip)
 * with multiplier 1 and its weights no longer fit.
 */
import * as tf from '@tensorflow/tfjs';

const separableProto = Object.getPrototypeOf(tf.layers.separableConv2d({ filters: 1, kernelSize: 1 })) as {
  getConfig(this: { depthMultiplier: number }): tf.serialization.ConfigDict;
};
const stockGetConfig = separableProto.getConfig;
separableProto.getConfig = function getConfig() {
  return { ...stockGetConfig.call(this), depthMultiplier: this.depthMultiplier };
};
