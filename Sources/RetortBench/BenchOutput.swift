import Foundation

/// The files a benchmark writes into its output folder.
public struct BenchOutputFiles: Sendable {
    public var table: String
    public var json: String
    public var svg: String?
    public var png: String?
}

extension BenchReport {
    /// Writes table.txt, results.json, frontier.svg (when quality was measured) and frontier.png
    /// (when `rsvg-convert` is on PATH) into `directory`, creating it.
    public func write(to directory: String) throws -> BenchOutputFiles {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let table = directory + "/table.txt", json = directory + "/results.json"
        try BenchTable.render(self).write(toFile: table, atomically: true, encoding: .utf8)
        try self.json().write(to: URL(fileURLWithPath: json), options: .atomic)
        var files = BenchOutputFiles(table: table, json: json)
        if let svg = FrontierPlot.svg(self) {
            let svgPath = directory + "/frontier.svg"
            try svg.write(toFile: svgPath, atomically: true, encoding: .utf8)
            files.svg = svgPath
            if let converter = findOnPath("rsvg-convert") {
                let png = directory + "/frontier.png"
                if let outcome = try? runProcess(converter, ["-o", png, svgPath]), outcome.status == 0 { files.png = png }
            }
        }
        return files
    }
}
