import XCTest
@testable import RetortBench

/// The text formats the benchmark reads: /proc files and llama.cpp's outputs.
final class ParsingTests: XCTestCase {
    func testProcStatus() {
        let status = """
        Name:\tretort
        VmPeak:\t  900000 kB
        VmHWM:\t  170000 kB
        VmRSS:\t  160000 kB
        RssAnon:\t   30000 kB
        RssFile:\t  130000 kB
        RssShmem:\t       0 kB
        """
        let m = ProcessMemory.parse(status)
        XCTAssertEqual(m, ProcessMemory(peakRSS: 170000 * 1024, rss: 160000 * 1024, anonRSS: 30000 * 1024, fileRSS: 130000 * 1024))
        let live = ProcessMemory.current()
        XCTAssertGreaterThan(live.peakRSS, 0)
        XCTAssertGreaterThanOrEqual(live.peakRSS, live.rss)
        XCTAssertGreaterThan(live.anonRSS, 0)
    }

    func testCPUInfo() {
        let x86 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu sse4_2 avx avx2 fma\n\nprocessor\t: 1\n"
        let (model, flags) = MachineInfo.parseCPUInfo(x86)
        XCTAssertEqual(model, "AMD EPYC 7B13")
        XCTAssertEqual(flags, ["fpu", "sse4_2", "avx", "avx2", "fma"])
        let arm = "processor\t: 0\nFeatures\t: fp asimd asimddp\nCPU part\t: 0xd0c\n"
        XCTAssertEqual(MachineInfo.parseCPUInfo(arm).flags, ["fp", "asimd", "asimddp"])
        let machine = MachineInfo.current()
        XCTAssertGreaterThanOrEqual(machine.logicalCores, 1)
        XCTAssertFalse(machine.cpuModel.isEmpty)
        XCTAssertFalse(machine.kernelPath.isEmpty)
    }

    func testLlamaBenchJSON() throws {
        let json = """
        [{"model_type": "llama 256M Q8_0", "model_n_params": 134515008, "n_prompt": 512, "n_gen": 0, "n_threads": 2, "avg_ts": 459.3},
         {"model_type": "llama 256M Q8_0", "model_n_params": 134515008, "n_prompt": 0, "n_gen": 128, "n_threads": 2, "avg_ts": 100.0}]
        """
        let s = try LlamaCppPeer.parseBench(json: json, source: "m.gguf")
        XCTAssertEqual(s.prefillTokensPerSecond, 459.3)
        XCTAssertEqual(s.decodeTokensPerSecond, 100.0)
        XCTAssertEqual(s.modelType, "llama 256M Q8_0")
        XCTAssertEqual(s.parameters, 134515008)
        XCTAssertThrowsError(try LlamaCppPeer.parseBench(json: "not json", source: "m.gguf")) { error in
            XCTAssertTrue("\(error)".contains("m.gguf"), "\(error)")
        }
        XCTAssertThrowsError(try LlamaCppPeer.parseBench(json: "[]", source: "m.gguf"))
    }

    func testLlamaPerplexityLog() throws {
        let log = """
        0.00.590.159 I perplexity: calculating perplexity over 16 chunks, n_ctx=512, batch_size=2048, n_seq=4
        [1]15.4955,[2]27.8685,
        0.25.590.159 I Final estimate: PPL = 30.4308 +/- 0.59000
        """
        let s = try XCTUnwrap(LlamaCppPeer.parsePerplexity(log: log))
        XCTAssertEqual(s.perplexity, 30.4308)
        XCTAssertEqual(s.standardError, 0.59)
        XCTAssertEqual(try XCTUnwrap(s.tokensPerSecond), 16 * 512 / 25.0, accuracy: 1e-6)
        XCTAssertNil(LlamaCppPeer.parsePerplexity(log: "error: failed to load model"))
    }

    func testRunProcessCapturesOutputStatusAndPeakRSS() throws {
        let outcome = try runProcess("/bin/sh", ["-c", "echo out; echo err >&2; exit 3"])
        XCTAssertEqual(outcome.status, 3)
        XCTAssertEqual(outcome.stdout, "out\n")
        XCTAssertEqual(outcome.stderr, "err\n")
        XCTAssertGreaterThan(outcome.peakRSSBytes, 0)
        XCTAssertThrowsError(try runProcess("/nonexistent/tool", [])) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent/tool"), "\(error)")
        }
    }

    func testPageCacheDropAndResidency() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("retort-pagecache-\(getpid()).bin").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(repeating: 7, count: 1 << 20).write(to: URL(fileURLWithPath: path))
        _ = try Data(contentsOf: URL(fileURLWithPath: path))
        XCTAssertTrue(PageCache.drop(path))
        let resident = try XCTUnwrap(PageCache.residentFraction(path))
        XCTAssertTrue((0...1).contains(resident))
        XCTAssertNil(PageCache.residentFraction("/nonexistent/file"))
    }
}
