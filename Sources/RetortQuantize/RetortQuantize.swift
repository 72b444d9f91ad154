// RetortQuantize: INT8 post-training quantization with calibration — observers on every quantized
// matrix input, calibrators choosing activation ranges, weight quantization per channel or per
// group, SmoothQuant, sensitivity analysis and mixed precision. Accuracy is measured through
// RetortRuntime, the kernels a device runs.
