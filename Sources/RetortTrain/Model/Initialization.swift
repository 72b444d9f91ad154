import Foundation
import RetortModel
import RetortRuntime

/// Fills `model` with a fresh initialisation (GPT-2 / Llama practice): every matrix and the
/// embedding from N(0, std²), the two residual-branch outputs (w_o, w_down) from
/// N(0, (std / √(2L))²) so the residual stream's variance does not grow with depth, norm
/// weights 1. Seeded: the same seed gives the same model.
public func initializeRandom(_ model: LlamaModel, seed: UInt64, standardDeviation std: Float = 0.02) {
    var rng = SeededGenerator(seed: seed)
    let residualStd = std / Float(2 * max(1, model.config.layerCount)).squareRoot()
    for entry in model.tensorTable {
        let p = entry.buffer.pointer
        if entry.name.hasSuffix("norm.weight") {
            p.update(repeating: 1, count: entry.buffer.count)
            continue
        }
        let s = entry.name.hasSuffix("attn_output.weight") || entry.name.hasSuffix("ffn_down.weight") ? residualStd : std
        var i = 0
        while i < entry.buffer.count {
            // Box–Muller: two normals from two uniforms in (0, 1].
            let u1 = max(Double(rng.nextUnitFloat()), 1e-12), u2 = Double(rng.nextUnitFloat())
            let r = (-2 * log(u1)).squareRoot()
            p[i] = s * Float(r * cos(2 * Double.pi * u2))
            if i + 1 < entry.buffer.count { p[i + 1] = s * Float(r * sin(2 * Double.pi * u2)) }
            i += 2
        }
    }
}
