// Minimal RetortRuntime runner (Embedded Swift: no Foundation, no CommandLine, no existentials).
// tools/arm64-test.sh cross-builds it for aarch64 Linux and runs it under qemu-aarch64;
// tools/runtime-rss.sh builds it for the x86-64 host and measures its memory.
//
//   retort-arm64 MODEL PROMPT MAX_TOKENS [--kernels auto|avx2|neonDot|neon|portable|reference] [--threads N]
//
// Greedy decode, the way `retort run --temperature 0 --ids` does it on the host (same capacity,
// batch and sampler settings): stdout gets the generated token ids on one line; stderr gets the
// prompt ids, the kernel path that ran and the session's KV-cache and run-state bytes.
import CRetortShim
import RetortRuntime

@_cdecl("main")
func main(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    var args: [String] = []
    for i in 1..<Int(argc) { args.append(String(cString: argv[i]!)) }
    var positional: [String] = []
    var kernels = "auto"
    var threads = 2
    var i = 0
    while i < args.count {
        if args[i] == "--kernels" && i + 1 < args.count {
            kernels = args[i + 1]
            i += 2
        } else if args[i] == "--threads" && i + 1 < args.count {
            guard let n = Int(args[i + 1]), n >= 1, n <= 256 else { return fail("--threads must be in 1...256") }
            threads = n
            i += 2
        } else {
            positional.append(args[i])
            i += 1
        }
    }
    guard positional.count == 3, let maxTokens = Int(positional[2]), maxTokens >= 0 else {
        return fail("usage: retort-arm64 MODEL PROMPT MAX_TOKENS [--kernels auto|avx2|neonDot|neon|portable|reference] [--threads N]")
    }
    if kernels != "auto" {
        guard let path = kernelPath(kernels) else { return fail("--kernels: unknown path '" + kernels + "'") }
        guard Kernels.available.contains(path) else {
            return fail("--kernels: path '" + kernels + "' is not available on this CPU")
        }
        Kernels.force(path)
    }
    do throws(RuntimeError) {
        let model = try RuntimeModel.load(path: positional[0])
        let prompt = model.tokenizer.encode(positional[1], addSpecial: true, parseSpecial: false)
        let capacity = min(prompt.count + maxTokens, model.config.contextLength)
        let pool = ThreadPool(threads: threads)
        let session = RuntimeSession(model: model, capacity: max(capacity, prompt.count),
                                     maxBatch: min(max(prompt.count, 1), 128), pool: pool)
        var generated: [Int32] = []
        let settings = SamplerSettings(temperature: 0, topK: 40, topP: 0.95, seed: 0)
        _ = try session.generate(prompt: prompt, maxTokens: maxTokens, sampler: settings) { id in
            generated.append(id)
            return true
        }
        print(joined(generated))
        note("prompt ids: " + joined(prompt))
        note("kernels: " + kernelName(Kernels.active) + "; threads: " + String(pool.threadCount))
        note("session: kv-cache bytes " + String(session.kvCacheBytes) + "; state bytes " + String(session.stateBytes)
             + "; capacity " + String(session.capacity) + "; prompt tokens " + String(prompt.count))
        return 0
    } catch {
        return fail(error.description)
    }
}

func kernelPath(_ name: String) -> KernelPath? {
    switch name {
    case "avx2": return .avx2
    case "neonDot": return .neonDot
    case "neon": return .neon
    case "portable": return .portable
    case "reference": return .reference
    default: return nil
    }
}

func kernelName(_ path: KernelPath) -> String {
    switch path {
    case .reference: return "reference"
    case .portable: return "portable"
    case .avx2: return "avx2"
    case .neonDot: return "neonDot"
    case .neon: return "neon"
    }
}

func joined(_ ids: [Int32]) -> String {
    var s = ""
    for (i, id) in ids.enumerated() { s += (i == 0 ? "" : " ") + String(id) }
    return s
}

/// Writes one line to standard error.
func note(_ message: String) {
    var bytes = Array(message.utf8)
    bytes.append(0x0A)
    bytes.withUnsafeBytes { buffer in _ = write(2, buffer.baseAddress, buffer.count) }
}

func fail(_ message: String) -> Int32 {
    note("retort-arm64: error: " + message)
    return 1
}
