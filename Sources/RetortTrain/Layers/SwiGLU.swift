import Foundation
import RetortModel

// SwiGLU gate of the Llama MLP, element-wise over N·F values (N = B·T rows, F MLP width).
// silu(g) = g·σ(g);  silu'(g) = σ(g)·(1 + g·(1 − σ(g))).

/// out = silu(gate) ⊙ up.  out, gate, up: (N, F). Nothing beyond the inputs is saved.
public func swigluForward(_ out: UnsafeMutablePointer<Float>, _ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>,
                          count: Int) {
    parallelChunks(count, minChunk: 1 << 13) { range in
        for i in range {
            let g = gate[i]
            out[i] = g / (1 + expf(-g)) * up[i]
        }
    }
}

/// dGate += dOut ⊙ up ⊙ silu'(gate);  dUp += dOut ⊙ silu(gate).  All (N, F).
public func swigluBackward(_ dGate: UnsafeMutablePointer<Float>, _ dUp: UnsafeMutablePointer<Float>,
                           _ dOut: UnsafePointer<Float>, _ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>,
                           count: Int) {
    parallelChunks(count, minChunk: 1 << 13) { range in
        for i in range {
            let g = gate[i]
            let sigma = 1 / (1 + expf(-g))
            dGate[i] += dOut[i] * up[i] * sigma * (1 + g * (1 - sigma))
            dUp[i] += dOut[i] * g * sigma
        }
    }
}
