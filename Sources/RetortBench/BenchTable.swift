import Foundation

/// The report as text for a terminal (and table.txt): machine and settings, a size-and-quality
/// table (one line per model), a speed-and-memory table (one line per model and thread count),
/// then the notes.
public enum BenchTable {
    public static func render(_ report: BenchReport) -> String {
        let m = report.machine, s = report.settings
        var out = "retort bench — \(m.date)\n"
        out += "machine: \(m.cpuModel), \(m.logicalCores) cores, \(mib(Double(m.memoryBytes), 0)) MiB, \(m.os) \(m.architecture); "
            + "flags: \(m.notableFlags.joined(separator: " ")); runtime kernels: \(m.kernelPath); \(m.build) build\n"
        out += "settings: threads \(s.threads.map(String.init).joined(separator: ",")), prompt \(s.promptTokens), "
            + "generate \(s.genTokens), \(s.reps) repetition\(s.reps == 1 ? "" : "s")"
            + (s.text.map { "; quality: first \(s.qualityTokens) tokens of \(URL(fileURLWithPath: $0).lastPathComponent), "
                + "\(s.method) protocol, context \(s.context)" } ?? "") + "\n"
        let hasPeer = report.models.contains { $0.peer != nil }

        // Size and quality.
        var size = TextTable(["model", "engine", "weights", "params M", "file MiB", "B/param", "perplexity", "KL nats", "top-1 %"])
        for r in report.models {
            let q = r.quality
            size.rows.append([r.model.name + (r.isReference ? " (ref)" : ""), r.model.engine.rawValue, r.model.weights,
                              fixed(Double(r.model.parameters) / 1e6, 1), mib(Double(r.model.fileBytes), 1),
                              fixed(r.model.bytesPerParameter, 2), q.map { perplexity($0.perplexity, $0.perplexity * $0.nllStandardError) } ?? "—",
                              q?.meanKL.map { kl($0) } ?? (q?.comparisonNote ?? "—"),
                              q?.top1Agreement.map { fixed($0 * 100, 1) } ?? "—"])
        }
        out += "\nSize and quality\n" + size.render()

        // Speed and memory.
        var speed = TextTable(["model", "threads", "load warm ms", "load cold ms", "peak RSS MiB", "anon RSS MiB",
                               "over base MiB", "÷ file+KV", "prefill t/s", "decode t/s", "p50 ms", "p95 ms"])
        for r in report.models {
            for t in r.threads {
                let model = t.peakRSSBytes.median - t.baselineRSSBytes.median
                speed.rows.append([r.model.name, "\(t.threads)", spread(t.warmLoadMilliseconds),
                                   t.coldLoadMilliseconds.map { spread($0) } ?? "—",
                                   mib(t.peakRSSBytes.median, 1), mib(t.anonRSSBytes.median, 1),
                                   mib(model, 1), fixed(model / Double(r.model.fileBytes + t.kvCacheBytes), 2),
                                   spread(t.prefillTokensPerSecond), spread(t.decodeTokensPerSecond),
                                   fixed(t.decodeP50Milliseconds, 2), fixed(t.decodeP95Milliseconds, 2)])
            }
        }
        out += "\nSpeed and memory (median [min–max])\n" + speed.render()

        // Side by side with llama.cpp.
        if hasPeer {
            var peer = TextTable(["model", "llama.cpp runs", "threads", "prefill t/s", "llama.cpp", "×", "decode t/s", "llama.cpp",
                                  "×", "peak RSS MiB", "llama.cpp", "perplexity", "llama.cpp"])
            for r in report.models {
                let file = r.peer?.file.map { "\($0.type)\($0.exported ? " (exported)" : ""), \(mib(Double($0.fileBytes), 1)) MiB" } ?? "—"
                let ppl = r.quality.map { fixed($0.perplexity, 3) } ?? "—"
                let peerPPL = r.peer?.quality.map { q in perplexity(q.perplexity, q.standardError) } ?? "—"
                for t in r.threads {
                    let p = t.peer
                    peer.rows.append([r.model.name, file, "\(t.threads)",
                                      short(t.prefillTokensPerSecond.median), p?.prefillTokensPerSecond.map { spread($0) } ?? "—",
                                      p?.prefillRatio.map { fixed($0, 2) } ?? "—",
                                      short(t.decodeTokensPerSecond.median), p?.decodeTokensPerSecond.map { spread($0) } ?? "—",
                                      p?.decodeRatio.map { fixed($0, 2) } ?? "—",
                                      mib(t.peakRSSBytes.median, 1), p?.peakRSSBytes.map { mib($0.median, 1) } ?? "—",
                                      ppl, peerPPL])
                }
            }
            out += "\nRetort vs llama.cpp on the same models (medians; × = Retort ÷ llama.cpp tokens/s)\n" + peer.render()
        }
        out += "\n" + report.notes.map { "- " + $0 }.joined(separator: "\n") + "\n"
        for r in report.models {
            for t in r.threads {
                if let resident = t.residentBeforeColdLoad, resident.max > 0.05 {
                    out += "- \(r.model.name), \(t.threads) thread\(t.threads == 1 ? "" : "s"): cold loads were not fully cold "
                        + "(up to \(fixed(resident.max * 100, 0))% of the file still cached after the drop)\n"
                }
                if let e = t.peer?.error { out += "- llama.cpp, \(r.model.name), \(t.threads) thread\(t.threads == 1 ? "" : "s"): \(e)\n" }
            }
            if let e = r.peer?.error { out += "- llama.cpp, \(r.model.name): \(e)\n" }
        }
        return out
    }

    /// "median [min–max]" with digits for the magnitude; just the median for one repetition.
    static func spread(_ s: Spread) -> String {
        s.count <= 1 || s.min == s.max ? short(s.median) : "\(short(s.median)) [\(short(s.min))–\(short(s.max))]"
    }

    /// Three significant digits at most, fewer decimals as values grow.
    static func short(_ v: Double) -> String {
        let a = abs(v)
        return fixed(v, a >= 100 ? 0 : a >= 10 ? 1 : 2)
    }

    static func fixed(_ v: Double, _ digits: Int) -> String {
        v.isFinite ? String(format: "%.\(digits)f", v) : "\(v)"
    }

    /// KL in nats: four decimals, or two significant digits below 0.001 (same weights give ~1e-7).
    static func kl(_ v: Double) -> String {
        v > 0 && v < 0.001 ? String(format: "%.1e", v) : fixed(v, 4)
    }

    static func perplexity(_ value: Double, _ error: Double?) -> String {
        fixed(value, 3) + (error.map { " ± " + fixed($0, 3) } ?? "")
    }

    static func mib(_ bytes: Double, _ digits: Int) -> String { fixed(bytes / 1_048_576, digits) }
}

/// A plain text table: left-aligned first column, the rest right-aligned.
struct TextTable {
    var columns: [String]
    var rows: [[String]] = []

    init(_ columns: [String]) { self.columns = columns }

    func render() -> String {
        var widths = columns.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: max(0, widths[i] - cell.count))
                return i == 0 ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }
        var out = line(columns) + "\n"
        out += widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n"
        for row in rows { out += line(row) + "\n" }
        return out
    }
}
