import ArgumentParser
import Foundation
import RetortBench

/// Size, load time, memory, speed and quality of models side by side, with llama.cpp as the peer:
/// a table, results.json and an SVG of the tradeoff frontier. The measuring lives in RetortBench;
/// every speed and quality measurement runs in a fresh process of this executable
/// (`retort bench --worker REQUEST`), so peak RSS is per model.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure size, load time, memory, speed and quality of models side by side (and llama.cpp's).",
        discussion: """
        Models: any mix of GGUF (host FP32 engine) and .rtm (RetortRuntime). Per model and thread count: \
        file size, load-to-ready time (warm, and cold after dropping the file's page cache), peak and \
        anonymous RSS, prefill tokens/s, decode tokens/s and per-token p50/p95. Per model, with --text: \
        perplexity, KL to the reference and top-1 agreement. With llama.cpp's tools (tools/build-llama-cpp.sh), \
        llama-bench and llama-perplexity run on each model's GGUF form in the same rounds. \
        With --out: table.txt, results.json, frontier.svg (and frontier.png if rsvg-convert is installed).
        """)

    @Option(name: .long, parsing: .upToNextOption, help: "Model files (.gguf or .rtm).")
    var models: [String] = []

    @Option(name: .long, help: "Evaluation text: perplexity, KL and agreement; its first tokens form the prompt.")
    var text: String?

    @Option(name: .long, help: "Output folder for table.txt, results.json, frontier.svg/.png.")
    var out: String?

    @Option(name: .long, help: "The model others are compared with for KL and top-1 agreement (default: the first).")
    var reference: String?

    @Option(name: .long, help: "Comma-separated thread counts.")
    var threads = "1,2"

    @Option(name: .long, help: "Prompt tokens for the prefill test (like llama-bench -p).")
    var promptTokens = 512

    @Option(name: .long, help: "Generated tokens for the decode test (like llama-bench -n).")
    var genTokens = 128

    @Option(name: .long, help: "Repetitions of each speed measurement (median and min–max reported).")
    var reps = 3

    @Option(name: .long, help: "Perplexity/KL on the first N tokens of --text (8192: about a minute per model on 2 cores).")
    var qualityTokens = 8192

    @Option(name: .long, help: "Perplexity window (context) in tokens.")
    var context = 512

    @Option(name: .long, help: "Perplexity protocol: llama.cpp (comparable with llama-perplexity) | sliding.")
    var `protocol` = "llama.cpp"

    @Flag(name: .long, help: "Skip cold loads (dropping the page cache of each model file).")
    var noCold = false

    @Flag(name: .long, help: "Do not run llama.cpp.")
    var noPeers = false

    @Option(name: .long, help: "Folder with llama-bench and llama-perplexity (default: $RETORT_CACHE/llama.cpp/bin).")
    var llamaCpp: String?

    @Flag(name: .long, help: "Print results.json on standard output instead of the table.")
    var json = false

    @Option(name: .long, help: "Render an earlier results.json (table, and with --out the files) instead of measuring.")
    var report: String?

    @Option(name: .long, help: .hidden)
    var worker: String?

    var threadCounts: [Int] { threads.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    func validate() throws {
        if worker != nil { return }
        if let report {
            guard FileManager.default.fileExists(atPath: report) else { throw ValidationError("--report: no such file '\(report)'") }
            return
        }
        guard !models.isEmpty else { throw ValidationError("--models needs at least one .gguf or .rtm file") }
        for m in models {
            guard FileManager.default.fileExists(atPath: m) else { throw ValidationError("--models: no such file '\(m)'") }
            guard m.hasSuffix(".rtm") || m.hasSuffix(".gguf") else {
                throw ValidationError("--models: '\(m)' is neither .gguf nor .rtm")
            }
        }
        guard Set(models).count == models.count else { throw ValidationError("--models: a file is listed twice") }
        if let reference {
            guard models.contains(reference) else { throw ValidationError("--reference: '\(reference)' is not one of --models") }
        }
        guard !threadCounts.isEmpty, threadCounts.count == threads.split(separator: ",").count,
              threadCounts.allSatisfy({ $0 >= 1 && $0 <= 256 }) else {
            throw ValidationError("--threads: expected a list like 1,2 (each 1...256)")
        }
        guard promptTokens >= 1, genTokens >= 1, reps >= 1 else {
            throw ValidationError("--prompt-tokens, --gen-tokens and --reps must be ≥ 1")
        }
        if let text, !FileManager.default.fileExists(atPath: text) { throw ValidationError("--text: no such file '\(text)'") }
        guard context >= 4 && context <= 1 << 16 else { throw ValidationError("--context must be in 4...65536") }
        guard ["llama.cpp", "sliding"].contains(`protocol`) else { throw ValidationError("--protocol must be llama.cpp or sliding") }
        guard qualityTokens >= 2 * context else {
            throw ValidationError("--quality-tokens must be at least 2 × --context (\(2 * context))")
        }
    }

    func run() throws {
        if let worker {
            print(try SubprocessWorker.serve(worker))
            return
        }
        if let report {
            return try show(try BenchReport.read(report))
        }
        let settings = BenchSettings(models: models, text: text, reference: reference, threads: threadCounts,
                                     promptTokens: promptTokens, genTokens: genTokens, reps: reps,
                                     qualityTokens: qualityTokens, context: context, method: `protocol`, cold: !noCold)
        var peer: LlamaCppPeer?
        if !noPeers {
            let dir = llamaCpp ?? retortCacheDirectory() + "/llama.cpp/bin"
            peer = LlamaCppPeer(directory: dir)
            if peer == nil { note("no llama-bench / llama-perplexity in \(dir): no llama.cpp rows (tools/build-llama-cpp.sh builds them)") }
        }
        let child = SubprocessWorker(arguments: ["bench", "--worker"])
        let harness = BenchHarness(settings: settings, worker: child.run, peer: peer, log: { note($0) })
        try show(try harness.run())
    }

    func show(_ report: BenchReport) throws {
        if json {
            print(String(decoding: try report.json(), as: UTF8.self))
        } else {
            print(BenchTable.render(report), terminator: "")
        }
        fflush(nil)   // the table before the notes on standard error
        if let out {
            let files = try report.write(to: out)
            note("wrote \(files.table), \(files.json)" + (files.svg.map { ", \($0)" } ?? "") + (files.png.map { ", \($0)" } ?? "")
                 + (files.svg == nil ? " (no frontier.svg: quality needs --text)" : ""))
        }
    }
}

/// `$RETORT_CACHE`, else `$XDG_CACHE_HOME/retort`, else `~/.cache/retort` (as tools/lib.sh).
func retortCacheDirectory() -> String {
    let env = ProcessInfo.processInfo.environment
    if let dir = env["RETORT_CACHE"], !dir.isEmpty { return dir }
    if let xdg = env["XDG_CACHE_HOME"], !xdg.isEmpty { return xdg + "/retort" }
    return NSHomeDirectory() + "/.cache/retort"
}
