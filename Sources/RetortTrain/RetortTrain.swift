/// RetortTrain: the FP32 training engine (explicit forward/backward passes on OpenBLAS) that
/// distillation trains students with.
///
/// Layers and losses are llm.c-style pairs of free functions, `xxxForward` / `xxxBackward`:
/// output first, sizes explicit, saved activations passed in explicitly, and every backward ADDS
/// into its gradients (`+=`), so gradients of shared parameters and micro-batches accumulate.
///
/// Dimension names (as in `LlamaConfig`):
///   N = B·T rows (B sequences of T tokens), D = model width, V = vocabulary,
///   H = query heads, G = key/value heads (H % G == 0), E = head width, F = MLP width.
/// Every tensor is row-major; a matrix `w (OUT, IN)` is stored `[out][in]` like `LlamaWeights`.
public enum RetortTrain {}
