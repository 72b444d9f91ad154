import XCTest
@testable import RetortQuantize
