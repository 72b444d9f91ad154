import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import RetortModel
import RetortRuntime
import RetortTestSupport
import XCTest
@testable import RetortBench

/// The whole benchmark on tiny synthetic models, in this process: a GGUF (host FP32), and f32
/// and int8 .rtm files of the same weights; llama.cpp played by two small scripts.
final class BenchHarnessTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("retort-bench-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// teacher.gguf (F32), student & int8.rtm, text.txt of tokenizer characters.
    func writeInputs() throws -> (models: [String], text: String) {
        let model = TinyModels.random(TinyModels.runtimeConfig, seed: 7)
        let tokenizer = TinyModels.tokenizer()
        let gguf = directory + "/teacher.gguf", f32 = directory + "/student & co.rtm", int8 = directory + "/int8.rtm"
        try makeGGUF(model: model, tokenizer: tokenizer, type: .f32).write(to: gguf)
        try Data(makeRTM(model: model, tokenizer: tokenizer, weights: .f32).serialize()).write(to: URL(fileURLWithPath: f32))
        try Data(makeRTM(model: model, tokenizer: tokenizer, weights: .int8).serialize()).write(to: URL(fileURLWithPath: int8))
        var rng = SeededGenerator(seed: 3)
        let alphabet = Array("ABCDEFGHIJKLMNOP".utf8)
        let text = directory + "/text.txt"
        try Data((0..<400).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }).write(to: URL(fileURLWithPath: text))
        return ([gguf, f32, int8], text)
    }

    /// A directory with `llama-bench` and `llama-perplexity` scripts printing fixed results.
    func writeFakePeer() throws -> LlamaCppPeer {
        let bin = directory + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        let bench = """
        #!/bin/sh
        echo '[{"model_type": "llama tiny", "model_n_params": 1, "n_prompt": 16, "n_gen": 0, "avg_ts": 1000.0},'
        echo ' {"model_type": "llama tiny", "model_n_params": 1, "n_prompt": 0, "n_gen": 8, "avg_ts": 250.0}]'
        """
        let perplexity = """
        #!/bin/sh
        echo '0.00.100.000 I perplexity: calculating perplexity over 4 chunks, n_ctx=16, batch_size=2048, n_seq=4' >&2
        echo '0.01.100.000 I Final estimate: PPL = 40.5000 +/- 1.25000' >&2
        """
        for (name, script) in [("llama-bench", bench), ("llama-perplexity", perplexity)] {
            try script.write(toFile: "\(bin)/\(name)", atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: "\(bin)/\(name)")
        }
        return try XCTUnwrap(LlamaCppPeer(directory: bin))
    }

    func runBench(peer: LlamaCppPeer?) throws -> BenchReport {
        let (models, text) = try writeInputs()
        let settings = BenchSettings(models: models, text: text, threads: [1, 2], promptTokens: 16, genTokens: 8, reps: 2,
                                     qualityTokens: 64, context: 16, method: "llama.cpp", cold: true)
        return try BenchHarness(settings: settings, worker: BenchWorker.run, peer: peer).run()
    }

    func testTableAndJSONHaveEveryFieldForEveryModel() throws {
        let report = try runBench(peer: try writeFakePeer())
        XCTAssertEqual(report.models.map(\.model.name), ["teacher.gguf", "student & co.rtm", "int8.rtm"])

        // The table: every model in every section, every column.
        let table = BenchTable.render(report)
        for header in ["model", "engine", "weights", "params M", "file MiB", "B/param", "perplexity", "KL nats", "top-1 %",
                       "threads", "load warm ms", "load cold ms", "peak RSS MiB", "anon RSS MiB", "over base MiB", "÷ file+KV",
                       "prefill t/s", "decode t/s",
                       "p50 ms", "p95 ms", "llama.cpp runs", "Retort vs llama.cpp"] {
            XCTAssertTrue(table.contains(header), "table lacks '\(header)':\n\(table)")
        }
        for r in report.models {
            // Size/quality line, one speed line per thread count, one peer line per thread count.
            let lines = table.split(separator: "\n").filter { $0.hasPrefix(r.model.name) }
            XCTAssertEqual(lines.count, 1 + 2 * report.settings.threads.count, "lines for \(r.model.name):\n\(table)")
            XCTAssertTrue(table.contains(BenchTable.fixed(try XCTUnwrap(r.quality).perplexity, 3)))
        }
        XCTAssertTrue(table.contains(report.machine.cpuModel))

        // The JSON: every field present for every model and thread count.
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: report.json()) as? [String: Any])
        let machine = try XCTUnwrap(json["machine"] as? [String: Any])
        for key in ["cpuModel", "cpuFlags", "notableFlags", "logicalCores", "memoryBytes", "os", "architecture", "kernelPath",
                    "build", "date"] {
            XCTAssertNotNil(machine[key], "machine.\(key)")
        }
        let settings = try XCTUnwrap(json["settings"] as? [String: Any])
        for key in ["models", "text", "reference", "threads", "promptTokens", "genTokens", "reps", "qualityTokens", "context",
                    "method", "cold"] {
            XCTAssertNotNil(settings[key], "settings.\(key)")
        }
        let models = try XCTUnwrap(json["models"] as? [[String: Any]])
        XCTAssertEqual(models.count, 3)
        for m in models {
            let model = try XCTUnwrap(m["model"] as? [String: Any])
            for key in ["path", "name", "engine", "weights", "parameters", "fileBytes", "bytesPerParameter"] {
                XCTAssertNotNil(model[key], "model.\(key)")
            }
            XCTAssertNotNil(m["isReference"])
            let quality = try XCTUnwrap(m["quality"] as? [String: Any])
            for key in ["perplexity", "meanNLL", "nllStandardError", "textTokens", "scoredTokens", "windows", "meanKL",
                        "top1Agreement", "seconds", "tokensPerSecond"] {
                XCTAssertNotNil(quality[key], "quality.\(key) of \(model["name"]!)")
            }
            let peer = try XCTUnwrap(m["peer"] as? [String: Any])
            XCTAssertNotNil(peer["file"])
            XCTAssertNotNil(peer["quality"])
            let rows = try XCTUnwrap(m["threads"] as? [[String: Any]])
            XCTAssertEqual(rows.map { $0["threads"] as? Int }, [1, 2])
            for row in rows {
                for key in ["kernels", "warmLoadMilliseconds", "coldLoadMilliseconds", "residentBeforeColdLoad", "peakRSSBytes",
                            "anonRSSBytes", "baselineRSSBytes", "prefillTokensPerSecond", "decodeTokensPerSecond",
                            "decodeP50Milliseconds", "decodeP95Milliseconds", "kvCacheBytes", "peer"] {
                    XCTAssertNotNil(row[key], "threads.\(key) of \(model["name"]!)")
                }
                let spread = try XCTUnwrap(row["prefillTokensPerSecond"] as? [String: Any])
                for key in ["median", "min", "max", "q1", "q3", "count"] { XCTAssertNotNil(spread[key], "spread.\(key)") }
                XCTAssertEqual(spread["count"] as? Int, 2)
                let peerRow = try XCTUnwrap(row["peer"] as? [String: Any])
                for key in ["prefillTokensPerSecond", "decodeTokensPerSecond", "peakRSSBytes", "prefillRatio", "decodeRatio"] {
                    XCTAssertNotNil(peerRow[key], "threads.peer.\(key)")
                }
            }
        }
    }

    func testMeasuredValuesAreConsistent() throws {
        let report = try runBench(peer: try writeFakePeer())
        let teacher = report.models[0], f32 = report.models[1], int8 = report.models[2]
        XCTAssertTrue(teacher.isReference)
        XCTAssertEqual(teacher.model.engine, .hostFP32)
        XCTAssertEqual(f32.model.engine, .runtime)
        XCTAssertEqual(int8.model.weights, "int8PerChannel")
        XCTAssertEqual(teacher.model.parameters, TinyModels.runtimeConfig.parameterCount)
        XCTAssertEqual(int8.model.bytesPerParameter, Double(int8.model.fileBytes) / Double(int8.model.parameters))
        // Same weights in f32 through two engines: same perplexity, KL ≈ 0, full agreement.
        let tq = try XCTUnwrap(teacher.quality), fq = try XCTUnwrap(f32.quality), iq = try XCTUnwrap(int8.quality)
        XCTAssertEqual(tq.meanKL, 0)
        XCTAssertEqual(tq.top1Agreement, 1)
        let samePerplexity = 1e-4   // relative: two FP32 engines, different summation order
        XCTAssertEqual(fq.perplexity, tq.perplexity, accuracy: samePerplexity * tq.perplexity)
        XCTAssertLessThan(try XCTUnwrap(fq.meanKL), 1e-6)
        XCTAssertEqual(fq.top1Agreement, 1)
        // int8 differs from the reference, but not by much.
        XCTAssertGreaterThan(try XCTUnwrap(iq.meanKL), 0)
        XCTAssertLessThan(try XCTUnwrap(iq.meanKL), 0.05)
        XCTAssertEqual(tq.scoredTokens, 4 * 7)   // 4 chunks of 16, positions 8…14 scored
        for r in report.models {
            for t in r.threads {
                XCTAssertGreaterThan(t.prefillTokensPerSecond.median, 0)
                XCTAssertGreaterThan(t.decodeTokensPerSecond.median, 0)
                XCTAssertLessThanOrEqual(t.decodeP50Milliseconds, t.decodeP95Milliseconds)
                XCTAssertGreaterThan(t.peakRSSBytes.median, 0)
                XCTAssertNotNil(t.coldLoadMilliseconds)
                // The fake llama.cpp reports 1000 t/s prefill and 250 t/s decode.
                let peer = try XCTUnwrap(t.peer)
                XCTAssertEqual(try XCTUnwrap(peer.prefillRatio), t.prefillTokensPerSecond.median / 1000, accuracy: 1e-9)
                XCTAssertEqual(try XCTUnwrap(peer.decodeRatio), t.decodeTokensPerSecond.median / 250, accuracy: 1e-9)
            }
            XCTAssertEqual(r.peer?.quality?.perplexity, 40.5)
            XCTAssertEqual(r.peer?.quality?.chunks, 4)
        }
        XCTAssertEqual(teacher.peer?.file?.exported, false)
        XCTAssertEqual(f32.peer?.file?.type, "F32")
        XCTAssertEqual(int8.peer?.file?.type, "Q8_0")
    }

    func testSVGIsWellFormedAndNamesEveryModel() throws {
        let report = try runBench(peer: try writeFakePeer())
        let files = try report.write(to: directory + "/out")
        let svgPath = try XCTUnwrap(files.svg)
        let svg = try String(contentsOfFile: svgPath, encoding: .utf8)
        let collector = SVGTextCollector()
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = collector
        XCTAssertTrue(parser.parse(), "SVG is not well-formed XML: \(String(describing: parser.parserError))")
        XCTAssertEqual(collector.root, "svg")
        let texts = collector.texts.joined(separator: "\n")
        for r in report.models {
            // Each model labels a point in both panels, and its llama.cpp run does too.
            XCTAssertEqual(collector.texts.filter { $0 == r.model.name }.count, 2, "labels of \(r.model.name):\n\(texts)")
            XCTAssertTrue(collector.texts.contains { $0.hasPrefix(r.model.name + " · llama.cpp") }, texts)
        }
        XCTAssertGreaterThanOrEqual(collector.circles, 2 * report.models.count)
        XCTAssertTrue(FileManager.default.fileExists(atPath: files.table))
        let decoded = try BenchReport.read(files.json)
        XCTAssertEqual(decoded.models.count, 3)
        XCTAssertEqual(BenchTable.render(decoded), BenchTable.render(report))
        XCTAssertThrowsError(try BenchReport.read(files.table)) { error in
            XCTAssertTrue("\(error)".contains("table.txt"), "\(error)")
        }
    }

    func testWithoutTextOrPeerThereIsNoPlotAndNoPeerColumns() throws {
        let (models, _) = try writeInputs()
        let settings = BenchSettings(models: Array(models.prefix(2)), text: nil, threads: [1], promptTokens: 8, genTokens: 4,
                                     reps: 1, cold: false)
        let report = try BenchHarness(settings: settings, worker: BenchWorker.run).run()
        XCTAssertNil(report.models[0].quality)
        XCTAssertNil(report.models[0].threads[0].coldLoadMilliseconds)
        XCTAssertNil(FrontierPlot.svg(report))
        let table = BenchTable.render(report)
        XCTAssertFalse(table.contains("llama.cpp runs"))
        XCTAssertTrue(table.contains("Quality not measured"))
        XCTAssertFalse(table.contains("not fully cold"))
        var warmish = report
        warmish.models[0].threads[0].residentBeforeColdLoad = Spread([0.5, 0.01])
        XCTAssertTrue(BenchTable.render(warmish).contains("not fully cold (up to 50% of the file still cached"))
    }

    func testBadModelFileIsATypedErrorNamingTheFile() throws {
        let bad = directory + "/bad.rtm"
        try Data("not a model".utf8).write(to: URL(fileURLWithPath: bad))
        let settings = BenchSettings(models: [bad], text: nil, threads: [1], reps: 1)
        XCTAssertThrowsError(try BenchHarness(settings: settings, worker: BenchWorker.run).run()) { error in
            XCTAssertTrue("\(error)".contains("bad.rtm"), "\(error)")
        }
    }

    func testWorkerRequestsRoundTripThroughJSON() throws {
        let (models, text) = try writeInputs()
        let request = WorkerRequest.speed(SpeedRequest(model: models[2], threads: 1, promptTokens: 8, genTokens: 4,
                                                       promptText: text, cold: false))
        let reply = try SubprocessWorker.serve(String(decoding: try JSONEncoder().encode(request), as: UTF8.self))
        guard case .speed(let sample) = try JSONDecoder().decode(WorkerResponse.self, from: Data(reply.utf8)) else {
            return XCTFail("not a speed sample: \(reply)")
        }
        XCTAssertEqual(sample.decodeStepMilliseconds.count, 4)
        XCTAssertNil(sample.coldLoadMilliseconds)
        XCTAssertThrowsError(try SubprocessWorker.serve("{not json"))
    }
}

final class SubprocessWorkerTests: XCTestCase {
    /// A stand-in worker executable: a script printing a fixed response, or failing.
    func script(_ body: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("retort-worker-\(UUID().uuidString).sh").path
        try "#!/bin/sh\n\(body)\n".write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        return path
    }

    func testDecodesTheLastLineAndReportsFailures() throws {
        let sample = PeerSpeedSample(prefillTokensPerSecond: 10, decodeTokensPerSecond: 5, peakRSSBytes: 1 << 20,
                                     modelType: "llama", parameters: 3)
        let json = String(decoding: try JSONEncoder().encode(WorkerResponse.peerSpeed(sample)), as: UTF8.self)
        let good = try script("echo progress; echo '\(json)'")
        defer { try? FileManager.default.removeItem(atPath: good) }
        let request = WorkerRequest.speed(SpeedRequest(model: "m.rtm", threads: 1, promptTokens: 1, genTokens: 1,
                                                       promptText: nil, cold: false))
        XCTAssertEqual(try SubprocessWorker(executable: good, arguments: []).run(request), .peerSpeed(sample))

        let bad = try script("echo 'Error: m.rtm: header: bad magic' >&2; exit 1")
        defer { try? FileManager.default.removeItem(atPath: bad) }
        XCTAssertThrowsError(try SubprocessWorker(executable: bad, arguments: []).run(request)) { error in
            XCTAssertTrue("\(error)".contains("m.rtm") && "\(error)".contains("bad magic"), "\(error)")
        }
        let silent = try script("echo nothing")
        defer { try? FileManager.default.removeItem(atPath: silent) }
        XCTAssertThrowsError(try SubprocessWorker(executable: silent, arguments: []).run(request))
    }
}

/// Collects the text of every <text> element, the root element's name and the circles.
final class SVGTextCollector: NSObject, XMLParserDelegate {
    var root: String?
    var texts: [String] = []
    var circles = 0
    private var current: String?

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        if root == nil { root = name }
        if name == "circle" { circles += 1 }
        if name == "text" { current = "" }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { current? += string }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        if name == "text", let c = current { texts.append(c) }
        current = nil
    }
}

final class FrontierTests: XCTestCase {
    func testParetoFrontier() {
        typealias P = FrontierPlot.Point
        let points = [P(x: 500, y: 30, label: "f32", peer: false), P(x: 130, y: 31, label: "int8", peer: false),
                      P(x: 140, y: 35, label: "worse", peer: false), P(x: 60, y: 40, label: "tiny", peer: false),
                      P(x: 600, y: 30, label: "same quality, bigger", peer: true)]
        XCTAssertEqual(FrontierPlot.frontier(points).map(\.label), ["tiny", "int8", "f32"])
        // Equal to rounding is not better: the same weights in a bigger file are not a step.
        let same = [P(x: 90, y: 27.863, label: "q4", peer: false), P(x: 500, y: 27.86299, label: "f32", peer: false)]
        XCTAssertEqual(FrontierPlot.frontier(same).map(\.label), ["q4"])
    }

    func testAxisTicksAreRoundAndCoverTheRange() {
        let a = FrontierPlot.niceAxis(lo: 28.7, hi: 41.3)
        XCTAssertLessThanOrEqual(a.lo, 28.7)
        XCTAssertGreaterThanOrEqual(a.hi, 41.3)
        XCTAssertEqual(a.step, 2)
        XCTAssertEqual(FrontierPlot.ticks(a).first, a.lo)
        XCTAssertEqual(FrontierPlot.ticks(a).last, a.hi)
        let flat = FrontierPlot.niceAxis(lo: 5, hi: 5)
        XCTAssertGreaterThan(flat.hi, flat.lo)
    }

    func testEscape() {
        XCTAssertEqual(FrontierPlot.escape("a & <b> \"c\" 'd'"), "a &amp; &lt;b&gt; &quot;c&quot; &apos;d&apos;")
    }
}
