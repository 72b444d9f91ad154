import XCTest
@testable import RetortBench
