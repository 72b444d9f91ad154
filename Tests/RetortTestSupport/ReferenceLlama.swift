import Foundation
import RetortModel

/// A deliberately plain Llama forward pass (one token at a time, scalar loops, no BLAS, no cache
/// reuse tricks) used as the reference the fast model is tested against.
public func referenceLlamaLogits(_ model: LlamaModel, tokens: [Int32]) -> [[Float]] {
    let c = model.config, w = model.weights
    let d = c.dim, e = c.headDim
    func vec(_ b: FloatBuffer) -> [Float] { b.array }
    func matvec(_ m: FloatBuffer, _ x: [Float], rows: Int) -> [Float] {
        (0..<rows).map { r in (0..<x.count).reduce(Float(0)) { $0 + m[r * x.count + $1] * x[$1] } }
    }
    func rmsnorm(_ x: [Float], _ g: FloatBuffer) -> [Float] {
        let ms = x.map { $0 * $0 }.reduce(0, +) / Float(x.count)
        let s = 1 / (ms + c.normEpsilon).squareRoot()
        return x.indices.map { x[$0] * s * g[$0] }
    }
    func rope(_ v: inout [Float], heads: Int, pos: Int) {
        for h in 0..<heads {
            for i in 0..<e / 2 {
                let theta = Double(pos) / pow(Double(c.ropeBase), Double(2 * i) / Double(e))
                let (cs, sn) = (Float(cos(theta)), Float(sin(theta)))
                let a = v[h * e + 2 * i], b = v[h * e + 2 * i + 1]
                v[h * e + 2 * i] = a * cs - b * sn
                v[h * e + 2 * i + 1] = a * sn + b * cs
            }
        }
    }
    var keys = [[[Float]]](repeating: [], count: c.layerCount)
    var values = [[[Float]]](repeating: [], count: c.layerCount)
    var out: [[Float]] = []
    for (pos, token) in tokens.enumerated() {
        var x = (0..<d).map { w.tokenEmbedding[Int(token) * d + $0] }
        for (l, lw) in w.layers.enumerated() {
            let xn = rmsnorm(x, lw.attnNorm)
            var q = matvec(lw.wq, xn, rows: c.qDim)
            var k = matvec(lw.wk, xn, rows: c.kvDim)
            let v = matvec(lw.wv, xn, rows: c.kvDim)
            rope(&q, heads: c.headCount, pos: pos)
            rope(&k, heads: c.kvHeadCount, pos: pos)
            keys[l].append(k)
            values[l].append(v)
            var att = [Float](repeating: 0, count: c.qDim)
            for h in 0..<c.headCount {
                let g = h / (c.headCount / c.kvHeadCount)
                var s = (0...pos).map { p in
                    (0..<e).reduce(Float(0)) { $0 + q[h * e + $1] * keys[l][p][g * e + $1] } / Float(e).squareRoot()
                }
                let m = s.max()!
                s = s.map { Float(exp(Double($0 - m))) }
                let z = s.reduce(0, +)
                for p in 0...pos {
                    for i in 0..<e { att[h * e + i] += s[p] / z * values[l][p][g * e + i] }
                }
            }
            let o = matvec(lw.wo, att, rows: d)
            for i in 0..<d { x[i] += o[i] }
            let xn2 = rmsnorm(x, lw.ffnNorm)
            let gate = matvec(lw.wGate, xn2, rows: c.ffnDim)
            let up = matvec(lw.wUp, xn2, rows: c.ffnDim)
            let hidden = (0..<c.ffnDim).map { gate[$0] / (1 + Float(exp(Double(-gate[$0])))) * up[$0] }
            let down = matvec(lw.wDown, hidden, rows: d)
            for i in 0..<d { x[i] += down[i] }
        }
        out.append(matvec(w.output, rmsnorm(x, w.finalNorm), rows: c.vocabSize))
    }
    return out
}
