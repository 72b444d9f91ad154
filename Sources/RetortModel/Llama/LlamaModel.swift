import Dispatch
import RetortImport

/// A Llama-family model held in FP32 on the host: blueprint (`config`) plus parameters (`weights`).
/// Run state lives in `LlamaSession`.
public final class LlamaModel: @unchecked Sendable {
    public let config: LlamaConfig
    public let weights: LlamaWeights

    public init(config: LlamaConfig, weights: LlamaWeights) {
        self.config = config
        self.weights = weights
    }

    public convenience init(config: LlamaConfig) {
        self.init(config: config, weights: LlamaWeights(config: config))
    }

    /// On-disk name table for this model's parameters.
    public var tensorTable: [LlamaTensorName] { LlamaTensorName.table(config: config, weights: weights) }

    /// Imports a GGUF file, dequantizing every tensor to FP32. Shapes are checked against the
    /// config before any data is touched.
    public static func load(gguf file: GGUFFile) throws -> LlamaModel {
        let config = try LlamaConfig(gguf: file)
        let model = LlamaModel(config: config)
        let table = model.tensorTable
        var infos: [GGUFTensorInfo] = []
        for entry in table {
            guard let info = file.tensor(named: entry.name) else {
                throw ModelError(file: file.path, field: entry.name, message: "tensor missing")
            }
            guard info.dims == entry.dims else {
                throw ModelError(file: file.path, field: entry.name,
                                 message: "shape \(info.dims) does not match the config's \(entry.dims)")
            }
            guard info.type.canDequantize else {
                throw ModelError(file: file.path, field: entry.name, message: "type \(info.type.name) cannot be imported")
            }
            infos.append(info)
        }
        // Dequantize tensors in parallel; the first error wins.
        let lock = NSLockLike()
        let work = UncheckedSendable((table, infos))
        nonisolated(unsafe) var firstError: Error?
        DispatchQueue.concurrentPerform(iterations: table.count) { i in
            let (table, infos) = work.value
            do {
                let values = try file.dequantize(infos[i])
                values.withUnsafeBufferPointer { table[i].buffer.pointer.update(from: $0.baseAddress!, count: values.count) }
            } catch {
                lock.withLock { if firstError == nil { firstError = error } }
            }
        }
        if let error = firstError { throw error }
        return model
    }
}

/// A minimal mutex on Dispatch (keeps this file free of Foundation).
final class NSLockLike: @unchecked Sendable {
    private let semaphore = DispatchSemaphore(value: 1)
    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        semaphore.wait()
        defer { semaphore.signal() }
        return try body()
    }
}
