import ArgumentParser
import Foundation

/// `retort demo`: the whole pipeline on a teacher and a corpus split — distill a student within a
/// budget, quantize it to INT8 with calibration, generate from it with RetortRuntime, and bench
/// the teacher, the FP32 student and the INT8 student side by side. Each stage runs as a child
/// `retort` process (its own peak memory, its output streamed); every artifact lands in --out.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Distill → quantize → run → bench, end to end, into one output folder.",
        discussion: "tools/demo.sh fetches the default teacher and corpus and runs this with them.")

    @Option(name: .long, help: "Teacher model (GGUF or .rtm).") var teacher: String
    @Option(name: .long, help: "Folder with train.txt, validation.txt and test.txt.") var corpus: String
    @Option(name: .long, help: "Output folder.") var out: String
    @Option(name: .long, help: "Distillation budget in minutes of training.") var minutes = 12.0
    @Option(name: .long, help: "Test tokens for perplexity, KL and agreement in the reports.") var testTokens = 8192
    @Option(name: .long, help: "Calibration sequences for measuring the teacher's importance.") var calibrationSequences = 2
    @Option(name: .long, help: "Comma-separated thread counts for the speed benchmark.") var threads = "1,2"
    @Option(name: .long, help: "Repetitions of each speed measurement.") var reps = 2
    @Option(name: .long, help: "Prompt for the generation step.")
    var prompt = "KING HENRY:\nNow, lords, what news"
    @Flag(name: .long, help: "Do not run llama.cpp peers in the benchmark.") var noPeers = false

    func validate() throws {
        guard FileManager.default.fileExists(atPath: teacher) else { throw ValidationError("--teacher: no such file '\(teacher)'") }
        for split in ["train", "validation", "test"] where !FileManager.default.fileExists(atPath: "\(corpus)/\(split).txt") {
            throw ValidationError("--corpus: '\(corpus)' has no \(split).txt")
        }
        guard minutes > 0, testTokens >= 1024, calibrationSequences >= 1, reps >= 1 else {
            throw ValidationError("--minutes must be > 0, --test-tokens ≥ 1024, --calibration-sequences and --reps ≥ 1")
        }
    }

    func run() throws {
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let student = "\(out)/student-f32.rtm", int8 = "\(out)/student-int8.rtm"
        let test = "\(corpus)/test.txt"
        let clock = ContinuousClock()
        let start = clock.now

        stage(1, "distill a student (\(format(minutes, 1)) minutes of training)")
        try retort(["distill", "--teacher", teacher, "--data", "\(corpus)/train.txt", "--validation", "\(corpus)/validation.txt",
                    "--test", test, "--out", student, "--max-minutes", "\(minutes)", "--eval-every", "0",
                    "--test-tokens", "\(testTokens)", "--calibration-sequences", "\(calibrationSequences)",
                    "--report", "\(out)/distill.json"])

        stage(2, "quantize the student to INT8 (calibrated on the train split, measured on the test split)")
        try retort(["quantize", "--model", student, "--calibration", "\(corpus)/train.txt", "--out", int8,
                    "--eval-text", test, "--max-tokens", "\(testTokens)", "--report", "\(out)/quantize.jsonl"])

        stage(3, "generate with RetortRuntime from \(int8)")
        try retort(["run", "--model", int8, "--prompt", prompt, "--temperature", "0.7", "--seed", "1", "--max-tokens", "60"])

        stage(4, "bench the teacher, the FP32 student and the INT8 student")
        var bench = ["bench", "--models", teacher, student, int8, "--text", test, "--out", "\(out)/bench",
                     "--threads", threads, "--reps", "\(reps)", "--quality-tokens", "\(testTokens)"]
        if noPeers { bench.append("--no-peers") }
        try retort(bench)

        let minutesTaken = start.duration(to: clock.now).seconds / 60
        print("""

        demo finished in \(format(minutesTaken, 1)) minutes; everything is in \(out):
          student-f32.rtm        the distilled student (FP32), with provenance
          distill.json           distillation report (shape, budget, teacher/student test perplexity, KL, top-1)
          student-f32.rtm.ckpt   last training checkpoint (continue with retort distill … --resume)
          student-int8.rtm       the INT8 student (W8A8), calibration and measured quality in its provenance
          quantize.jsonl         quantization report (FP32 vs INT8 perplexity, KL, top-1, size)
          bench/table.txt        size / speed / memory / quality table, side by side with llama.cpp
          bench/results.json     every measurement, with the machine
          bench/frontier.svg     the tradeoff picture (quality vs size, quality vs decode latency)
        """)
    }

    private func stage(_ n: Int, _ title: String) {
        note("\n== \(n)/4 \(title)")
    }

    /// Runs this executable with `arguments`, streaming its output; a failure stops the demo.
    private func retort(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        if !FileManager.default.isExecutableFile(atPath: process.executableURL!.path) {
            process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        }
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ValidationError("demo stage 'retort \(arguments[0])' failed with status \(process.terminationStatus)")
        }
    }
}
