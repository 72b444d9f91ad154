import Foundation

/// Runs worker requests in child processes: `executable arguments… <request JSON>`, which must
/// print the `WorkerResponse` as JSON on its last line of standard output (`retort bench
/// --worker` does). Each measurement gets a fresh process, so peak RSS is its own.
public struct SubprocessWorker: Sendable {
    public var executable: String
    public var arguments: [String]

    public init(executable: String = currentExecutablePath(), arguments: [String]) {
        self.executable = executable
        self.arguments = arguments
    }

    public func run(_ request: WorkerRequest) throws -> WorkerResponse {
        let json = String(decoding: try JSONEncoder().encode(request), as: UTF8.self)
        let outcome = try runProcess(executable, arguments + [json])
        guard outcome.status == 0 else {
            let tail = outcome.stderr.split(separator: "\n").suffix(5).joined(separator: " | ")
            throw BenchError(file: request.modelPath, field: "worker",
                             message: "exit status \(outcome.status): \(tail.isEmpty ? "no message" : tail)")
        }
        guard let line = outcome.stdout.split(separator: "\n").last,
              let response = try? JSONDecoder().decode(WorkerResponse.self, from: Data(line.utf8)) else {
            throw BenchError(file: request.modelPath, field: "worker", message: "no result on standard output")
        }
        return response
    }

    /// The entry point of the child: decodes a request, runs it here, prints the response.
    public static func serve(_ json: String) throws -> String {
        let request: WorkerRequest
        do {
            request = try JSONDecoder().decode(WorkerRequest.self, from: Data(json.utf8))
        } catch {
            throw BenchError(file: "<worker request>", field: "json", message: "\(error)")
        }
        return String(decoding: try JSONEncoder().encode(try BenchWorker.run(request)), as: UTF8.self)
    }
}

extension WorkerRequest {
    var modelPath: String {
        switch self {
        case .speed(let r): r.model
        case .quality(let r): r.model
        case .peerSpeed(let r): r.gguf
        case .export(let r): r.model.path
        }
    }
}
