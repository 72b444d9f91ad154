// RetortBench: what was traded, measured side by side. For each model (GGUF through the host FP32
// engine, .rtm through RetortRuntime) and thread count: size, load time, memory, prefill and
// decode speed; per model: perplexity, KL to a reference and top-1 agreement; llama.cpp on the
// same models as peer rows. Results become a table, JSON, and an SVG of the tradeoff frontier.
//
//   BenchHarness      runs the rounds (a worker per measurement, peers alternating) → BenchReport
//   BenchWorker       one measurement in one process: speed (SpeedSample) or quality (QualitySample)
//   LlamaCppPeer      llama-bench / llama-perplexity on the GGUF form of each model
//   BenchReport       results + machine + settings; BenchTable and FrontierPlot render it
