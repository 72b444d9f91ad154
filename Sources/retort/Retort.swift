import ArgumentParser

@main
struct Retort: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retort",
        abstract: "Distill, quantize and run language models on edge devices.",
        subcommands: [Inspect.self, Tokenize.self, Generate.self, Eval.self, Convert.self, Run.self, Export.self, Bench.self, BenchKernels.self, Synth.self, Quantize.self, BenchTraining.self, Distill.self, Demo.self]
    )
}
