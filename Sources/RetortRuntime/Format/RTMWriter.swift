/// Builds an `.rtm` file (formats/rtm.md) in memory: metadata in insertion order, tensors in the
/// order added, each tensor's data and then its scales at the next multiple of 64 bytes.
///
/// Invalid tensors (sizes that do not match the dtype and dims, a bad group size, a duplicate
/// name) are programmer errors and stop at a precondition; the reader applies the same rules to
/// files with typed errors.
public struct RTMWriter {
    private var entries: [(key: String, value: RTMValue)] = []
    private var keyIndex: [[UInt8]: Int] = [:]
    private var pending: [PendingTensor] = []
    private var tensorNames: [[UInt8]: Int] = [:]

    private struct PendingTensor {
        var record: RTMTensorRecord
        var name: [UInt8]
        var data: [UInt8]
        var scales: [Float]
    }

    public init() {}

    /// Sets `key`; a key set again keeps its first position and takes the new value.
    public mutating func set(_ key: String, _ value: RTMValue) {
        let bytes = Array(key.utf8)
        precondition((1 ... RTMLayout.maxKeyLength).contains(bytes.count), "metadata key length must be 1...\(RTMLayout.maxKeyLength)")
        if let index = keyIndex[bytes] {
            entries[index].value = value
        } else {
            keyIndex[bytes] = entries.count
            entries.append((key: key, value: value))
        }
    }

    /// Adds a tensor. `dims` innermost first; `data` in the kernels' layout (formats/rtm.md,
    /// "dtypes"); `scales` as the dtype requires (none for f32/f16).
    public mutating func addTensor(name: String, dtype: RTMDType, dims: [Int], data: [UInt8],
                                   scales: [Float] = [], groupSize: Int = 0, activationScale: Float = 0,
                                   activationDigits: Int = 1) {
        let nameBytes = Array(name.utf8)
        precondition((1 ... RTMLayout.maxNameLength).contains(nameBytes.count), "tensor name length must be 1...\(RTMLayout.maxNameLength)")
        precondition(tensorNames[nameBytes] == nil, "duplicate tensor name \(name)")
        switch RTMShape.check(dtype: dtype, dims: dims, groupSize: groupSize) {
        case .invalid(let field, let message):
            preconditionFailure("tensor \(name): \(field): \(message)")
        case .valid(_, let dataBytes, let scaleCount):
            precondition(data.count == dataBytes, "tensor \(name): \(data.count) data bytes, expected \(dataBytes)")
            precondition(scales.count == scaleCount, "tensor \(name): \(scales.count) scales, expected \(scaleCount)")
            precondition(UInt32(exactly: groupSize) != nil)
        }
        precondition(activationScale.isFinite && activationScale >= 0, "tensor \(name): activationScale must be finite and ≥ 0")
        precondition(activationDigits == 1 || activationDigits == 2, "tensor \(name): activationDigits must be 1 or 2")
        precondition(activationDigits == 1 || ((dtype == .int8PerChannel || dtype == .int8PerGroup) && activationScale == 0),
                     "tensor \(name): two-digit activations need an int8 dtype and no static activation scale")

        var record = RTMTensorRecord()
        record.nameLength = UInt32(nameBytes.count)
        record.dtype = dtype.rawValue
        record.rank = UInt32(dims.count)
        record.dims = dims.map { UInt64($0) }
        record.dataSize = UInt64(data.count)
        record.scaleCount = UInt64(scales.count)
        record.groupSize = UInt32(groupSize)
        record.activationScale = activationScale
        record.activationDigits = activationDigits == 2 ? 2 : 0
        tensorNames[nameBytes] = pending.count
        pending.append(PendingTensor(record: record, name: nameBytes, data: data, scales: scales))
    }

    /// The complete file.
    public func serialize() -> [UInt8] {
        let alignment = RTMLayout.defaultAlignment
        func aligned(_ n: Int) -> Int {
            guard let value = RTMLayout.align(n, to: alignment) else { preconditionFailure("file too large") }
            return value
        }

        let metadata = encodeMetadata()

        // Place names, data and scales; fill the records' offsets and checksums.
        var records: [RTMTensorRecord] = []
        var pool: [UInt8] = []
        for tensor in pending {
            var record = tensor.record
            record.nameOffset = UInt32(pool.count)
            pool += tensor.name
            records.append(record)
        }
        pool += [UInt8](repeating: 0, count: RTMLayout.pad8(pool.count) - pool.count)

        var header = RTMFileHeader()
        header.magic = RTMFileHeader.magicValue
        header.versionMajor = RTMLayout.versionMajor
        header.versionMinor = RTMLayout.versionMinor
        header.alignment = UInt32(alignment)
        header.metadataOffset = UInt64(RTMLayout.headerSize)
        header.metadataSize = UInt64(metadata.count)
        header.metadataCount = UInt64(entries.count)
        let tableOffset = aligned(RTMLayout.headerSize + metadata.count)
        let tableSize = records.count * RTMLayout.tensorRecordSize + pool.count
        let dataOffset = aligned(tableOffset + tableSize)
        header.tableOffset = UInt64(tableOffset)
        header.tableSize = UInt64(tableSize)
        header.tensorCount = UInt64(records.count)
        header.dataOffset = UInt64(dataOffset)

        var end = dataOffset
        for (i, tensor) in pending.enumerated() {
            let start = aligned(end)
            records[i].dataOffset = UInt64(start)
            records[i].dataChecksum = RTMChecksum.xxh64(tensor.data)
            end = start + tensor.data.count
            if !tensor.scales.isEmpty {
                let scaleStart = aligned(end)
                records[i].scaleOffset = UInt64(scaleStart)
                records[i].scaleChecksum = tensor.scales.withUnsafeBytes { RTMChecksum.xxh64($0) }
                end = scaleStart + 4 * tensor.scales.count
            }
        }
        header.dataSize = UInt64(end - dataOffset)
        header.fileSize = UInt64(end)

        var table: [UInt8] = []
        table.reserveCapacity(tableSize)
        for record in records { record.encode(into: &table) }
        table += pool
        header.metadataChecksum = RTMChecksum.xxh64(metadata)
        header.tableChecksum = RTMChecksum.xxh64(table)
        var headerBytes = header.encoded()
        header.headerChecksum = headerBytes.withUnsafeBytes {
            RTMChecksum.xxh64(UnsafeRawBufferPointer(rebasing: $0[0 ..< RTMLayout.headerChecksummedBytes]))
        }
        headerBytes = header.encoded()

        var file: [UInt8] = []
        file.reserveCapacity(end)
        func pad(to offset: Int) { file += [UInt8](repeating: 0, count: offset - file.count) }
        file += headerBytes
        file += metadata
        pad(to: tableOffset)
        file += table
        for (i, tensor) in pending.enumerated() {
            pad(to: Int(records[i].dataOffset))
            file += tensor.data
            if !tensor.scales.isEmpty {
                pad(to: Int(records[i].scaleOffset))
                for scale in tensor.scales { appendLittleEndian(scale.bitPattern, to: &file) }
            }
        }
        precondition(file.count == end)
        return file
    }

    // MARK: - Metadata

    private func encodeMetadata() -> [UInt8] {
        var bytes: [UInt8] = []
        for (key, value) in entries {
            let keyBytes = Array(key.utf8)
            var header = RTMMetadataEntryHeader()
            header.keyLength = UInt32(keyBytes.count)
            header.valueType = value.typeID
            switch value {
            case .int, .float, .bool: header.valueCount = 1
            case .string(let string): header.valueCount = UInt64(string.utf8.count)
            case .ints(let ints): header.valueCount = UInt64(ints.count)
            case .floats(let floats): header.valueCount = UInt64(floats.count)
            case .strings(let strings): header.valueCount = UInt64(strings.count)
            }
            header.encode(into: &bytes)
            bytes += keyBytes
            padTo8(&bytes)
            switch value {
            case .int(let int): appendLittleEndian(UInt64(bitPattern: int), to: &bytes)
            case .float(let double): appendLittleEndian(double.bitPattern, to: &bytes)
            case .bool(let bool): appendLittleEndian(UInt64(bool ? 1 : 0), to: &bytes)
            case .string(let string): bytes += string.utf8
            case .ints(let ints): for int in ints { appendLittleEndian(UInt64(bitPattern: int), to: &bytes) }
            case .floats(let floats): for float in floats { appendLittleEndian(float.bitPattern, to: &bytes) }
            case .strings(let strings):
                for string in strings {
                    guard let length = UInt32(exactly: string.utf8.count) else { preconditionFailure("string too long") }
                    appendLittleEndian(length, to: &bytes)
                }
                padTo8(&bytes)
                for string in strings { bytes += string.utf8 }
            }
            padTo8(&bytes)
        }
        return bytes
    }
}

private func padTo8(_ bytes: inout [UInt8]) {
    bytes += [UInt8](repeating: 0, count: RTMLayout.pad8(bytes.count) - bytes.count)
}

private func appendLittleEndian<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
    for i in 0 ..< MemoryLayout<T>.size { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * i))) }
}
