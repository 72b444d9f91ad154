import Foundation

/// The tradeoff frontier as an SVG: perplexity against file size (left panel) and against decode
/// latency (right panel), every model a labelled point, llama.cpp's runs of the same models as
/// hollow diamonds, and the Pareto frontier (no other point both smaller/faster and better) as a
/// dashed staircase.
public enum FrontierPlot {
    public struct Point: Equatable, Sendable {
        public var x: Double
        public var y: Double
        public var label: String
        public var peer: Bool
    }

    struct Panel {
        var title: String
        var xLabel: String
        var points: [Point]
    }

    /// The SVG document, or nil when the report has no quality numbers to plot.
    public static func svg(_ report: BenchReport) -> String? {
        let threads = report.settings.threads.max() ?? 1
        var sizePoints: [Point] = [], latencyPoints: [Point] = []
        for r in report.models {
            guard let q = r.quality else { continue }
            sizePoints.append(Point(x: Double(r.model.fileBytes) / 1_048_576, y: q.perplexity, label: r.model.name, peer: false))
            if let row = r.threads.first(where: { $0.threads == threads }), row.decodeTokensPerSecond.median > 0 {
                latencyPoints.append(Point(x: 1000 / row.decodeTokensPerSecond.median, y: q.perplexity,
                                           label: r.model.name, peer: false))
            }
            guard let peer = r.peer, let file = peer.file, let pq = peer.quality else { continue }
            let label = "\(r.model.name) · llama.cpp \(file.type)"
            sizePoints.append(Point(x: Double(file.fileBytes) / 1_048_576, y: pq.perplexity, label: label, peer: true))
            if let tg = r.threads.first(where: { $0.threads == threads })?.peer?.decodeTokensPerSecond, tg.median > 0 {
                latencyPoints.append(Point(x: 1000 / tg.median, y: pq.perplexity, label: label, peer: true))
            }
        }
        guard !sizePoints.isEmpty else { return nil }
        let s = report.settings, m = report.machine
        let panels = [
            Panel(title: "Quality vs size", xLabel: "file size (MiB)", points: sizePoints),
            Panel(title: "Quality vs decode latency", xLabel: "decode latency, ms per token (\(threads) thread\(threads == 1 ? "" : "s"))",
                  points: latencyPoints),
        ]
        let yLabel = "perplexity (\(s.method), first \(s.qualityTokens) tokens; lower is better)"
        let width = 1120.0, height = 520.0
        var svg = """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">
        <rect x="0" y="0" width="\(Int(width))" height="\(Int(height))" fill="#ffffff"/>
        <text x="\(Int(width / 2))" y="28" text-anchor="middle" font-size="17" font-weight="bold">Size / latency / quality tradeoffs</text>

        """
        for (k, panel) in panels.enumerated() {
            svg += panelSVG(panel, left: 90 + Double(k) * 545, top: 70, width: 430, height: 340, yLabel: yLabel)
        }
        // Legend and footer.
        let legendY = height - 58
        svg += """
        <circle cx="100" cy="\(fmt(legendY))" r="5" fill="#1f6fb4"/><text x="112" y="\(fmt(legendY + 4))">Retort</text>
        <path d="\(diamond(180, legendY))" fill="none" stroke="#c0392b" stroke-width="1.8"/><text x="192" y="\(fmt(legendY + 4))">llama.cpp, same model as GGUF</text>
        <line x1="410" y1="\(fmt(legendY))" x2="440" y2="\(fmt(legendY))" stroke="#777777" stroke-width="1.5" stroke-dasharray="5,4"/><text x="448" y="\(fmt(legendY + 4))">frontier (nothing both smaller/faster and better)</text>
        <text x="100" y="\(fmt(height - 32))" font-size="11" fill="#444444">\(escape("\(m.cpuModel), \(m.logicalCores) cores, \(m.notableFlags.joined(separator: " ")); \(m.os); runtime kernels \(m.kernelPath); \(m.build) build; \(m.date)"))</text>
        <text x="100" y="\(fmt(height - 16))" font-size="11" fill="#444444">\(escape("retort bench: prompt \(s.promptTokens), generate \(s.genTokens), \(s.reps) repetition\(s.reps == 1 ? "" : "s") (medians); quality on \(s.text.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "-"), context \(s.context)"))</text>
        </svg>

        """
        return svg
    }

    static func panelSVG(_ panel: Panel, left: Double, top: Double, width: Double, height: Double, yLabel: String) -> String {
        var out = "<g>\n"
        out += "<text x=\"\(fmt(left + width / 2))\" y=\"\(fmt(top - 14))\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">\(escape(panel.title))</text>\n"
        out += "<rect x=\"\(fmt(left))\" y=\"\(fmt(top))\" width=\"\(fmt(width))\" height=\"\(fmt(height))\" fill=\"#fafafa\" stroke=\"#999999\"/>\n"
        guard !panel.points.isEmpty else {
            out += "<text x=\"\(fmt(left + width / 2))\" y=\"\(fmt(top + height / 2))\" text-anchor=\"middle\" fill=\"#777777\">not measured</text>\n</g>\n"
            return out
        }
        let xs = panel.points.map(\.x), ys = panel.points.map(\.y)
        let xAxis = niceAxis(lo: 0, hi: (xs.max() ?? 1) * 1.12)
        let ySpan = (ys.max()! - ys.min()!)
        let yPad = ySpan > 0 ? ySpan * 0.12 : max(abs(ys[0]) * 0.05, 0.5)
        let yAxis = niceAxis(lo: ys.min()! - yPad, hi: ys.max()! + yPad)
        func px(_ x: Double) -> Double { left + (x - xAxis.lo) / (xAxis.hi - xAxis.lo) * width }
        func py(_ y: Double) -> Double { top + height - (y - yAxis.lo) / (yAxis.hi - yAxis.lo) * height }
        // Grid and ticks.
        for t in ticks(xAxis) {
            out += "<line x1=\"\(fmt(px(t)))\" y1=\"\(fmt(top))\" x2=\"\(fmt(px(t)))\" y2=\"\(fmt(top + height))\" stroke=\"#e4e4e4\"/>"
            out += "<text x=\"\(fmt(px(t)))\" y=\"\(fmt(top + height + 16))\" text-anchor=\"middle\">\(tickLabel(t, step: xAxis.step))</text>\n"
        }
        for t in ticks(yAxis) {
            out += "<line x1=\"\(fmt(left))\" y1=\"\(fmt(py(t)))\" x2=\"\(fmt(left + width))\" y2=\"\(fmt(py(t)))\" stroke=\"#e4e4e4\"/>"
            out += "<text x=\"\(fmt(left - 6))\" y=\"\(fmt(py(t) + 4))\" text-anchor=\"end\">\(tickLabel(t, step: yAxis.step))</text>\n"
        }
        out += "<text x=\"\(fmt(left + width / 2))\" y=\"\(fmt(top + height + 38))\" text-anchor=\"middle\">\(escape(panel.xLabel))</text>\n"
        out += "<text transform=\"translate(\(fmt(left - 52)),\(fmt(top + height / 2))) rotate(-90)\" text-anchor=\"middle\" font-size=\"11\">\(escape(yLabel))</text>\n"
        // Frontier.
        let front = frontier(panel.points)
        if front.count >= 2 {
            var d = "M\(fmt(px(front[0].x))),\(fmt(py(front[0].y)))"
            for p in front.dropFirst() { d += " H\(fmt(px(p.x))) V\(fmt(py(p.y)))" }
            out += "<path d=\"\(d)\" fill=\"none\" stroke=\"#777777\" stroke-width=\"1.5\" stroke-dasharray=\"5,4\"/>\n"
        }
        // Labels first, placed clear of every point and of each other and inside the panel; then
        // the points on top, so no label hides one.
        typealias Box = (x0: Double, y0: Double, x1: Double, y1: Double)
        var placed: [Box] = panel.points.map { p in (px(p.x) - 6, py(p.y) - 6, px(p.x) + 6, py(p.y) + 6) }
        var leaders = "", labels = ""
        for p in panel.points {
            let x = px(p.x), y = py(p.y)
            let w = Double(p.label.count) * 6.3
            // Candidates: right of the point, left of it, then against the panel's right and left
            // edges; each at 0, +14, −14, +28 … px vertically. The first inside the panel and clear wins.
            let xs = [x + 8, x - 8 - w, left + width - 2 - w, left + 2]
            var candidates: [Box] = []
            for x0 in xs {
                for attempt in 0..<9 {
                    let dy = Double((attempt + 1) / 2) * 14 * (attempt % 2 == 1 ? 1 : -1)
                    candidates.append((x0, y + dy - 9, x0 + w, y + dy + 4))
                }
            }
            func inside(_ b: Box) -> Bool { b.x0 >= left + 2 && b.x1 <= left + width - 2 && b.y0 >= top + 2 && b.y1 <= top + height - 2 }
            func free(_ b: Box) -> Bool { !placed.contains { b.x0 < $0.x1 && $0.x0 < b.x1 && b.y0 < $0.y1 && $0.y0 < b.y1 } }
            let box = candidates.first { inside($0) && free($0) } ?? candidates.first(where: inside) ?? candidates[0]
            placed.append(box)
            // A label away from its point gets a leader line.
            if box.x0 != x + 8 || box.y1 != y + 4 {
                let lx = abs(box.x0 - x) < abs(box.x1 - x) ? box.x0 - 1 : box.x1 + 1
                leaders += "<line x1=\"\(fmt(x))\" y1=\"\(fmt(y))\" x2=\"\(fmt(lx))\" y2=\"\(fmt(box.y1 - 4))\" stroke=\"#b0b0b0\" stroke-width=\"0.8\"/>\n"
            }
            labels += "<text x=\"\(fmt(box.x0))\" y=\"\(fmt(box.y1))\" font-size=\"11\""
                + " fill=\"\(p.peer ? "#8e2a1f" : "#163f66")\" stroke=\"#ffffff\" stroke-width=\"3\" paint-order=\"stroke\">"
                + "\(escape(p.label))</text>\n"
        }
        out += leaders + labels
        for p in panel.points {
            let x = px(p.x), y = py(p.y)
            if p.peer {
                out += "<path d=\"\(diamond(x, y))\" fill=\"none\" stroke=\"#c0392b\" stroke-width=\"1.8\"/>\n"
            } else {
                out += "<circle cx=\"\(fmt(x))\" cy=\"\(fmt(y))\" r=\"5\" fill=\"#1f6fb4\"/>\n"
            }
        }
        return out + "</g>\n"
    }

    /// The Pareto frontier for "smaller x and smaller y are better": sorted by x, each point whose
    /// y is below every point at or left of it by more than `tolerance` (relative), so that two
    /// files of the same weights (perplexities equal to rounding) do not form a step.
    public static func frontier(_ points: [Point], tolerance: Double = 1e-4) -> [Point] {
        var best = Double.infinity
        var out: [Point] = []
        for p in points.sorted(by: { $0.x != $1.x ? $0.x < $1.x : $0.y < $1.y }) where p.y < best - tolerance * abs(best) || best.isInfinite {
            out.append(p)
            best = p.y
        }
        return out
    }

    struct Axis { var lo: Double, hi: Double, step: Double }

    /// An axis covering lo...hi with about five ticks at 1, 2 or 5 × 10^k.
    static func niceAxis(lo: Double, hi: Double) -> Axis {
        let span = hi > lo ? hi - lo : max(abs(hi), 1)
        let rough = span / 5
        let magnitude = pow(10, (log10(rough)).rounded(.down))
        let n = rough / magnitude
        let step = (n < 1.5 ? 1 : n < 3 ? 2 : n < 7 ? 5 : 10) * magnitude
        let l = (lo / step).rounded(.down) * step
        var h = (hi / step).rounded(.up) * step
        if h <= l { h = l + step }
        return Axis(lo: l, hi: h, step: step)
    }

    static func ticks(_ a: Axis) -> [Double] {
        let n = Int(((a.hi - a.lo) / a.step).rounded())
        return (0...n).map { a.lo + Double($0) * a.step }
    }

    static func tickLabel(_ v: Double, step: Double) -> String {
        let digits = max(0, Int((-log10(step)).rounded(.up)))
        return String(format: "%.\(digits)f", abs(v) < step * 1e-9 ? 0 : v)
    }

    static func diamond(_ x: Double, _ y: Double) -> String {
        "M\(fmt(x)),\(fmt(y - 6)) L\(fmt(x + 6)),\(fmt(y)) L\(fmt(x)),\(fmt(y + 6)) L\(fmt(x - 6)),\(fmt(y)) Z"
    }

    static func fmt(_ v: Double) -> String { String(format: "%.1f", v) }

    /// Text safe inside an XML element or attribute.
    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(c)
            }
        }
        return out
    }
}
