import RetortImport
import XCTest

final class GGUFTypeTests: XCTestCase {
    /// Block sizes and bytes per block, restated from ggml-common.h's static_asserts
    /// (`sizeof(block_q4_K) == 2*sizeof(ggml_half) + K_SCALE_SIZE + QK_K/2` …), QK_K = 256.
    func testBlockLayoutsMatchGGML() {
        let expected: [GGMLType: (block: Int, bytes: Int)] = [
            .f32: (1, 4), .f16: (1, 2), .bf16: (1, 2),
            .q4_0: (32, 18), .q4_1: (32, 20), .q5_0: (32, 22), .q5_1: (32, 24),
            .q8_0: (32, 34), .q8_1: (32, 36),
            .q2_K: (256, 84), .q3_K: (256, 110), .q4_K: (256, 144), .q5_K: (256, 176),
            .q6_K: (256, 210), .q8_K: (256, 292),
            .iq2_xxs: (256, 66), .iq2_xs: (256, 74), .iq3_xxs: (256, 98), .iq1_s: (256, 50),
            .iq4_nl: (32, 18), .iq3_s: (256, 110), .iq2_s: (256, 82), .iq4_xs: (256, 136),
            .i8: (1, 1), .i16: (1, 2), .i32: (1, 4), .i64: (1, 8), .f64: (1, 8), .iq1_m: (256, 56),
            .tq1_0: (256, 54), .tq2_0: (256, 66), .mxfp4: (32, 17), .nvfp4: (64, 36),
            .q1_0: (128, 18), .q2_0: (64, 18),
        ]
        XCTAssertEqual(Set(expected.keys), Set(GGMLType.allCases))
        for type in GGMLType.allCases {
            XCTAssertEqual(type.blockSize, expected[type]?.block, "\(type.name) block size")
            XCTAssertEqual(type.typeSize, expected[type]?.bytes, "\(type.name) bytes per block")
        }
    }

    func testIdsAndNames() {
        XCTAssertEqual(GGMLType.q4_1.rawValue, 3)
        XCTAssertEqual(GGMLType.q6_K.rawValue, 14)
        XCTAssertEqual(GGMLType.bf16.rawValue, 30)
        XCTAssertNil(GGMLType(rawValue: 4))  // Q4_2, removed from ggml
        XCTAssertEqual(GGMLType.f32.name, "F32")
        XCTAssertEqual(GGMLType.q4_1.name, "Q4_1")
        XCTAssertEqual(GGMLType.q6_K.name, "Q6_K")
        XCTAssertEqual(GGMLType.bf16.name, "BF16")
        XCTAssertEqual(GGMLType.iq2_xxs.name, "IQ2_XXS")
        XCTAssertEqual(GGUFValueType.float32.name, "float32")
    }

    func testByteCount() {
        XCTAssertEqual(GGMLType.q4_1.byteCount(elements: 576 * 1536), 576 * 1536 / 32 * 20)
        XCTAssertEqual(GGMLType.f32.byteCount(elements: 3), 12)
        XCTAssertEqual(GGMLType.q8_0.byteCount(elements: 0), 0)
        XCTAssertNil(GGMLType.q8_0.byteCount(elements: 33), "not whole blocks")
        XCTAssertNil(GGMLType.f32.byteCount(elements: -1))
        XCTAssertNil(GGMLType.f32.byteCount(elements: Int.max), "overflow")
        XCTAssertNil(GGMLType.q8_0.byteCount(elements: Int.max / 32 * 32), "34 bytes per 32 overflows")
        XCTAssertEqual(GGMLType.q6_K.byteCount(elements: Int.max / 256 * 256), Int.max / 256 * 210, "210 per 256 fits")
    }

    func testValueConveniences() {
        XCTAssertEqual(GGUFValue.uint64(7).intValue, 7)
        XCTAssertNil(GGUFValue.uint64(.max).intValue)
        XCTAssertEqual(GGUFValue.int8(-3).intValue, -3)
        XCTAssertNil(GGUFValue.float32(1).intValue)
        XCTAssertEqual(GGUFValue.float32(0.5).floatValue, 0.5)
        XCTAssertEqual(GGUFValue.int32(-2).floatValue, -2)
        XCTAssertEqual(GGUFValue.string("a").stringValue, "a")
        XCTAssertEqual(GGUFValue.bool(true).boolValue, true)
        XCTAssertNil(GGUFValue.bool(true).stringValue)
        let nested = GGUFValue.array(elementType: .array, values: [.array(elementType: .int32, values: [.int32(1)])])
        XCTAssertEqual(nested.type, .array)
        XCTAssertEqual(nested.typeDescription, "array[array[int32]]")
    }

    func testErrorDescription() {
        let error = GGUFError(file: "teacher.gguf", field: "tensor[3].offset (blk.0.attn_q.weight)",
                              kind: .truncated(offset: 123, needed: 333, fileSize: 400))
        XCTAssertEqual(error.description,
                       "teacher.gguf: tensor[3].offset (blk.0.attn_q.weight): data range 123..<456 past end of file (size 400)")
        let version = GGUFError(file: "a.gguf", field: "header.version", kind: .unsupportedVersion(found: 1))
        XCTAssertTrue(version.description.hasPrefix("a.gguf: header.version: GGUF version 1"), version.description)
    }
}
