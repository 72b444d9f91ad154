import CRetortShim

/// A fixed-size, 64-byte-aligned, zero-initialised Float buffer owned by its instance.
/// Model weights and run state live in these so hot loops use raw pointers and nothing
/// reallocates after construction.
public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>

    public init(count: Int) {
        precondition(count >= 0, "FloatBuffer count must be non-negative")
        guard let raw = retort_aligned_alloc(64, count * MemoryLayout<Float>.stride) else {
            fatalError("FloatBuffer: out of memory allocating \(count) floats")
        }
        self.count = count
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: count)
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { retort_free(pointer) }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }
    public var array: [Float] { Array(buffer) }

    public subscript(i: Int) -> Float {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }
}
