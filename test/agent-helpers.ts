/** Environment settings with every candidate-recovery and observation extra off: the paper's plain environment. */
export const NO_RECOVERY = {
  recovery: { adaptiveBatchNorm: false, reconstruction: false, samples: 64, maxReconstructionInputs: 512 },
  observationCriteria: false,
  criteriaSamples: 64,
};
