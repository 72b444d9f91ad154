/// Everything `GGUFFile` learns from the bytes before the tensor data, fully validated.
/// The layout is summarised in `GGUFFormat`.
struct GGUFHeader {
    var version: UInt32
    var alignment: Int
    var metadata: [(key: String, value: GGUFValue)]
    var metadataIndex: [String: Int]
    var tensors: [GGUFTensorInfo]
    var tensorIndex: [String: Int]
    /// Absolute offset of the (aligned) tensor data section.
    var dataOffset: Int

    /// Smallest encodings, used to reject counts the file cannot possibly hold:
    /// a kv is a key length (8), a value type (4) and at least one value byte;
    /// a tensor info is a name length (8), n_dims (4), a type (4) and an offset (8).
    private static let minimumKVSize = 8 + 4 + 1
    private static let minimumTensorInfoSize = 8 + 4 + 4 + 8

    static func parse(_ bytes: UnsafeRawBufferPointer, file: String) throws(GGUFError) -> GGUFHeader {
        var cursor = BinaryCursor(bytes, file: file)

        let magic = try cursor.read(UInt32.self, "header.magic")
        guard magic == GGUFFormat.magic else { throw cursor.error("header.magic", .badMagic(found: magic)) }
        let version = try cursor.read(UInt32.self, "header.version")
        guard GGUFFormat.supportedVersions.contains(version) else {
            throw cursor.error("header.version", .unsupportedVersion(found: version))
        }
        let tensorCount = try cursor.readCount(minimumElementSize: minimumTensorInfoSize, "header.tensor_count")
        let kvCount = try cursor.readCount(minimumElementSize: minimumKVSize, "header.kv_count")

        let (metadata, metadataIndex) = try readMetadata(&cursor, count: kvCount)
        let alignment = try alignment(metadata, metadataIndex, cursor)
        var (tensors, tensorIndex) = try readTensorInfos(&cursor, count: tensorCount)
        try cursor.align(to: alignment, "tensor data")
        let dataOffset = cursor.offset
        try placeTensors(&tensors, dataOffset: dataOffset, alignment: alignment, cursor)

        return GGUFHeader(
            version: version, alignment: alignment, metadata: metadata, metadataIndex: metadataIndex,
            tensors: tensors, tensorIndex: tensorIndex, dataOffset: dataOffset)
    }

    // MARK: - Metadata

    private static func readMetadata(
        _ cursor: inout BinaryCursor, count: Int
    ) throws(GGUFError) -> ([(key: String, value: GGUFValue)], [String: Int]) {
        var metadata: [(key: String, value: GGUFValue)] = []
        metadata.reserveCapacity(count)
        var index: [String: Int] = .init(minimumCapacity: count)
        for i in 0 ..< count {
            let key = try cursor.readString("kv[\(i)].key")
            guard !key.isEmpty else { throw cursor.error("kv[\(i)].key", .invalid("empty key")) }
            guard index[key] == nil else { throw cursor.error("kv[\(i)].key", .duplicate(key)) }
            let rawType = try cursor.read(UInt32.self, "kv[\(i)].type (\(key))")
            guard let type = GGUFValueType(rawValue: rawType) else {
                throw cursor.error("kv[\(i)].type (\(key))", .unknownValueType(rawType))
            }
            let value = try readValue(&cursor, type, ValuePath(kv: i, key: key), element: nil, depth: 0)
            index[key] = i
            metadata.append((key, value))
        }
        return (metadata, index)
    }

    /// Names a value for errors: "kv[3].value[17] (tokenizer.ggml.tokens)". Only arrays nested
    /// inside arrays extend `indices`, so reading a long flat array allocates no paths.
    private struct ValuePath {
        let kv: Int
        let key: String
        var indices: [Int] = []

        func appending(_ index: Int) -> ValuePath {
            var path = self
            path.indices.append(index)
            return path
        }

        func field(_ element: Int?) -> String {
            let all = indices + (element.map { [$0] } ?? [])
            return "kv[\(kv)].value" + all.map { "[\($0)]" }.joined() + " (\(key))"
        }
    }

    private static func readValue(
        _ cursor: inout BinaryCursor, _ type: GGUFValueType, _ path: ValuePath, element: Int?, depth: Int
    ) throws(GGUFError) -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try cursor.read(UInt8.self, path.field(element)))
        case .int8: return .int8(try cursor.read(Int8.self, path.field(element)))
        case .uint16: return .uint16(try cursor.read(UInt16.self, path.field(element)))
        case .int16: return .int16(try cursor.read(Int16.self, path.field(element)))
        case .uint32: return .uint32(try cursor.read(UInt32.self, path.field(element)))
        case .int32: return .int32(try cursor.read(Int32.self, path.field(element)))
        case .uint64: return .uint64(try cursor.read(UInt64.self, path.field(element)))
        case .int64: return .int64(try cursor.read(Int64.self, path.field(element)))
        case .float32: return .float32(Float(bitPattern: try cursor.read(UInt32.self, path.field(element))))
        case .float64: return .float64(Double(bitPattern: try cursor.read(UInt64.self, path.field(element))))
        case .bool:
            let byte = try cursor.read(UInt8.self, path.field(element))
            guard byte <= 1 else {
                throw cursor.error(path.field(element), .invalid("bool byte \(byte) is neither 0 nor 1"))
            }
            return .bool(byte == 1)
        case .string:
            return .string(try cursor.readString(path.field(element)))
        case .array:
            let own = element.map { path.appending($0) } ?? path
            guard depth < GGUFFormat.maxArrayNesting else {
                throw cursor.error(own.field(nil), .invalid("arrays nested deeper than \(GGUFFormat.maxArrayNesting)"))
            }
            let rawType = try cursor.read(UInt32.self, own.field(nil))
            guard let elementType = GGUFValueType(rawValue: rawType) else {
                throw cursor.error(own.field(nil), .unknownValueType(rawType))
            }
            let count = try cursor.readCount(minimumElementSize: elementType.minimumEncodedSize, own.field(nil))
            var values: [GGUFValue] = []
            values.reserveCapacity(count)
            for j in 0 ..< count {
                values.append(try readValue(&cursor, elementType, own, element: j, depth: depth + 1))
            }
            return .array(elementType: elementType, values: values)
        }
    }

    /// general.alignment if present (must be a u32 power of two), else 32.
    private static func alignment(
        _ metadata: [(key: String, value: GGUFValue)], _ index: [String: Int], _ cursor: BinaryCursor
    ) throws(GGUFError) -> Int {
        let key = GGUFFormat.alignmentKey
        guard let i = index[key] else { return GGUFFormat.defaultAlignment }
        guard case .uint32(let alignment) = metadata[i].value else {
            throw cursor.error(key, .typeMismatch(expected: "uint32", found: metadata[i].value.typeDescription))
        }
        guard alignment > 0, alignment & (alignment - 1) == 0 else {
            throw cursor.error(key, .invalid("alignment \(alignment) is not a power of two"))
        }
        return Int(alignment)
    }

    // MARK: - Tensor infos

    /// Reads name, shape, type and the stored (data-relative) offset of every tensor.
    private static func readTensorInfos(
        _ cursor: inout BinaryCursor, count: Int
    ) throws(GGUFError) -> ([GGUFTensorInfo], [String: Int]) {
        var tensors: [GGUFTensorInfo] = []
        tensors.reserveCapacity(count)
        var index: [String: Int] = .init(minimumCapacity: count)
        for i in 0 ..< count {
            let name = try cursor.readString("tensor[\(i)].name")
            guard index[name] == nil else { throw cursor.error("tensor[\(i)].name", .duplicate(name)) }
            func field(_ part: String) -> String { "tensor[\(i)].\(part) (\(name))" }

            let dimCount = try cursor.read(UInt32.self, field("n_dims"))
            guard dimCount <= GGUFFormat.maxDimensions else {
                throw cursor.error(field("n_dims"), .outOfRange(
                    "n_dims \(dimCount) exceeds the maximum of \(GGUFFormat.maxDimensions)"))
            }
            var dims: [Int] = []
            dims.reserveCapacity(Int(dimCount))
            var elements = 1
            for d in 0 ..< Int(dimCount) {
                let raw = try cursor.read(UInt64.self, field("dims"))
                guard let dim = Int(exactly: raw) else {
                    throw cursor.error(field("dims"), .outOfRange("ne[\(d)] = \(raw) does not fit in Int"))
                }
                dims.append(dim)
                let (product, overflow) = elements.multipliedReportingOverflow(by: dim)
                guard !overflow else { throw cursor.error(field("dims"), .overflow) }
                elements = product
            }

            let rawType = try cursor.read(UInt32.self, field("type"))
            guard let type = GGMLType(rawValue: rawType) else {
                throw cursor.error(field("type"), .unknownTensorType(rawType))
            }
            let rowLength = dims.first ?? 1
            guard rowLength % type.blockSize == 0 else {
                throw cursor.error(field("dims"), .invalid(
                    "row length \(rowLength) is not a multiple of the \(type.name) block size \(type.blockSize)"))
            }
            guard let byteCount = type.byteCount(elements: elements) else {
                throw cursor.error(field("dims"), .overflow)
            }

            let rawOffset = try cursor.read(UInt64.self, field("offset"))
            guard let offset = Int(exactly: rawOffset) else {
                throw cursor.error(field("offset"), .outOfRange("offset \(rawOffset) does not fit in Int"))
            }
            index[name] = i
            tensors.append(GGUFTensorInfo(name: name, dims: dims, type: type, offset: offset, byteCount: byteCount))
        }
        return (tensors, index)
    }

    /// Turns stored offsets into absolute ones and checks each range is aligned, inside the file,
    /// and disjoint from every other.
    private static func placeTensors(
        _ tensors: inout [GGUFTensorInfo], dataOffset: Int, alignment: Int, _ cursor: BinaryCursor
    ) throws(GGUFError) {
        let fileSize = cursor.bytes.count
        for (i, t) in tensors.enumerated() {
            let field = "tensor[\(i)].offset (\(t.name))"
            let (start, overflow) = dataOffset.addingReportingOverflow(t.offset)
            guard !overflow else { throw cursor.error(field, .overflow) }
            guard start % alignment == 0 else {  // the data section itself is aligned
                throw cursor.error(field, .misaligned(offset: start, alignment: alignment))
            }
            let (end, endOverflow) = start.addingReportingOverflow(t.byteCount)
            guard !endOverflow else { throw cursor.error(field, .overflow) }
            guard end <= fileSize else {
                throw cursor.error(field, .truncated(offset: start, needed: t.byteCount, fileSize: fileSize))
            }
            tensors[i] = GGUFTensorInfo(name: t.name, dims: t.dims, type: t.type, offset: start, byteCount: t.byteCount)
        }

        // Sorted by start, two ranges overlap iff some neighbouring pair does.
        let order = tensors.indices.filter { tensors[$0].byteCount > 0 }
            .sorted { (tensors[$0].offset, $0) < (tensors[$1].offset, $1) }
        for (a, b) in zip(order, order.dropFirst()) {
            let first = tensors[a], second = tensors[b]
            guard first.offset + first.byteCount > second.offset else { continue }
            let (i, j) = (max(a, b), min(a, b))
            let other = tensors[j]
            throw cursor.error("tensor[\(i)].offset (\(tensors[i].name))", .invalid(
                "data range \(tensors[i].offset)..<\(tensors[i].offset + tensors[i].byteCount) overlaps "
                    + "tensor[\(j)] (\(other.name)) at \(other.offset)..<\(other.offset + other.byteCount)"))
        }
    }
}
