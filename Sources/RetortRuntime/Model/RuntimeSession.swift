/// Run state of one sequence on the runtime: KV cache and scratch, allocated once for `capacity`
/// positions and batches of up to `maxBatch` tokens; nothing allocates in `forward`.
/// A batch of T > 1 tokens is prefill (matrix–matrix kernels), T = 1 is decoding (matrix–vector).
public final class RuntimeSession {
    public enum Logits { case all, last, none }

    public let model: RuntimeModel
    public let pool: ThreadPool
    public let capacity: Int             // C
    public let maxBatch: Int             // T_max
    public let logitRows: Int            // rows of `logits` (T_max for `.all`, else 1)
    public private(set) var position = 0

    let x: AlignedBuffer<Float>          // (T, D) residual stream
    let xn: AlignedBuffer<Float>         // (T, D) normed sublayer input
    let q: AlignedBuffer<Float>          // (T, H·E)
    let k: AlignedBuffer<Float>          // (T, G·E) new keys before they go into the cache
    let v: AlignedBuffer<Float>          // (T, G·E)
    let att: AlignedBuffer<Float>        // (T, H·E)
    let gate: AlignedBuffer<Float>       // (T, F)
    let up: AlignedBuffer<Float>         // (T, F)
    let tmp: AlignedBuffer<Float>        // (T, D) sublayer output before the residual add
    let xq: AlignedBuffer<Int8>          // (T, max(D, F, H·E)) quantized activations
    let xScales: AlignedBuffer<Float>    // (T)
    public let logits: AlignedBuffer<Float>   // (logitRows, V)
    let keys: AlignedBuffer<Float>       // (L, G, C, E), RoPE applied
    let values: AlignedBuffer<Float>     // (L, G, C, E)
    let cosSin: AlignedBuffer<Float>     // (C, E/2, 2)
    let headQuery: AlignedBuffer<Float>  // per worker (block, E)
    let scores: AlignedBuffer<Float>     // per worker (block, C)
    // Two-digit activations (matrices whose file record asks for them), in row blocks of `digitRows`:
    let digitRows: Int                   // B = min(T_max, 16); 0 when no matrix uses two digits
    let digitQ: AlignedBuffer<Int8>      // (2B, K_max) both digits of B rows
    let digitScales: AlignedBuffer<Float>   // (2B)
    let digitResidual: AlignedBuffer<Float> // (B, K_max)
    let digitOut: AlignedBuffer<Float>   // (2B, N) the two partial products (the head: (2·min(B, logit rows), V))

    static let attentionBlock = 32

    public init(model: RuntimeModel, capacity: Int, maxBatch: Int = 1, allLogits: Bool = false, pool: ThreadPool) {
        let c = model.config
        precondition(capacity > 0 && maxBatch > 0, "capacity and maxBatch must be positive")
        self.model = model
        self.pool = pool
        self.capacity = capacity
        self.maxBatch = min(maxBatch, capacity)
        let t = self.maxBatch
        logitRows = allLogits ? t : 1
        x = AlignedBuffer(count: t * c.dim, zero: 0)
        xn = AlignedBuffer(count: t * c.dim, zero: 0)
        q = AlignedBuffer(count: t * c.qDim, zero: 0)
        k = AlignedBuffer(count: t * c.kvDim, zero: 0)
        v = AlignedBuffer(count: t * c.kvDim, zero: 0)
        att = AlignedBuffer(count: t * c.qDim, zero: 0)
        gate = AlignedBuffer(count: t * c.ffnDim, zero: 0)
        up = AlignedBuffer(count: t * c.ffnDim, zero: 0)
        tmp = AlignedBuffer(count: t * c.dim, zero: 0)
        xq = AlignedBuffer(count: t * max(c.dim, c.ffnDim, c.qDim), zero: 0)
        xScales = AlignedBuffer(count: t, zero: 0)
        logits = AlignedBuffer(count: logitRows * c.vocabSize, zero: 0)
        keys = AlignedBuffer(count: c.layerCount * c.kvHeadCount * capacity * c.headDim, zero: 0)
        values = AlignedBuffer(count: c.layerCount * c.kvHeadCount * capacity * c.headDim, zero: 0)
        cosSin = AlignedBuffer(count: capacity * c.headDim, zero: 0)
        let block = min(t, RuntimeSession.attentionBlock)
        headQuery = AlignedBuffer(count: pool.threadCount * block * c.headDim, zero: 0)
        scores = AlignedBuffer(count: pool.threadCount * block * capacity, zero: 0)
        // The head only ever sees `logitRows` rows (one unless all logits are asked for), so a
        // two-digit head needs a (2, V) output block, not (2·B, V).
        let isWide = { (m: RuntimeMatrix) in m.isInt8 && m.activationDigits == 2 }
        let blockWide = model.layers.flatMap { [$0.wq, $0.wk, $0.wv, $0.wo, $0.wGate, $0.wUp, $0.wDown] }.filter(isWide)
        let headWide = isWide(model.output)
        let rows = blockWide.isEmpty && !headWide ? 0 : min(t, 16)
        digitRows = rows
        let headRows = headWide ? min(logitRows, rows) : 0
        let kMax = (blockWide + (headWide ? [model.output] : [])).map { $0.cols }.max() ?? 0
        let outMax = max(blockWide.map { 2 * rows * $0.rows }.max() ?? 0, 2 * headRows * model.output.rows)
        digitQ = AlignedBuffer(count: 2 * rows * kMax, zero: 0)
        digitScales = AlignedBuffer(count: 2 * rows, zero: 0)
        digitResidual = AlignedBuffer(count: rows * kMax, zero: 0)
        digitOut = AlignedBuffer(count: outMax, zero: 0)
        let e = c.headDim
        for p in 0..<capacity {
            for i in 0..<e / 2 {
                let theta = Double(p) * powPositive(Double(c.ropeBase), -2 * Double(i) / Double(e))
                let (s, co) = sinCos(theta)
                cosSin.pointer[p * e + 2 * i] = Float(co)
                cosSin.pointer[p * e + 2 * i + 1] = Float(s)
            }
        }
    }

    /// Bytes of run state (KV cache, scratch, logits) this session allocated.
    public var stateBytes: Int {
        4 * (x.count + xn.count + q.count + k.count + v.count + att.count + gate.count + up.count + tmp.count
             + xScales.count + logits.count + keys.count + values.count + cosSin.count + headQuery.count + scores.count
             + digitScales.count + digitResidual.count + digitOut.count)
            + xq.count + digitQ.count
    }

    /// Bytes of the KV cache alone (f32 keys and values for `capacity` positions of every layer).
    public var kvCacheBytes: Int { 4 * (keys.count + values.count) }

    public func reset() { position = 0 }

    /// Runs `tokens` at positions `position ..< position + T`. Returns `.all` → (T, V) logits
    /// (the session must be built with `allLogits`), `.last` → (1, V), `.none` → empty. The result
    /// is a view of the session's buffer, valid until the next call.
    @discardableResult
    public func forward(_ tokens: [Int32], logits want: Logits = .last) throws(RuntimeError) -> UnsafeBufferPointer<Float> {
        let c = model.config
        let t = tokens.count
        let source = model.file.path
        guard t > 0 else { return UnsafeBufferPointer(start: logits.pointer, count: 0) }
        guard t <= maxBatch else {
            throw RuntimeError(file: source, field: "tokens", message: "batch of " + String(t) + " exceeds maxBatch " + String(maxBatch))
        }
        guard position + t <= capacity else {
            throw RuntimeError(file: source, field: "position", message: "the sequence would exceed the cache capacity of " + String(capacity))
        }
        if case .all = want, logitRows < t {
            throw RuntimeError(file: source, field: "logits", message: "all-position logits need a session built with allLogits")
        }
        for i in 0..<t where tokens[i] < 0 || Int(tokens[i]) >= c.vocabSize {
            throw RuntimeError(file: source, field: "tokens[" + String(i) + "]", message: "id " + String(tokens[i]) + " outside the vocabulary")
        }
        let d = c.dim, p0 = position
        for i in 0..<t { model.tokenEmbedding.dequantizeRow(Int(tokens[i]), into: x.pointer + i * d) }
        for (l, layer) in model.layers.enumerated() {
            // Attention block.
            let (xp, xnp, tp) = (x.pointer, xn.pointer, tmp.pointer)
            byRows(t) { r0, n in rmsNormRows(xnp + r0 * d, xp + r0 * d, layer.attnNorm, rows: n, dim: d, epsilon: c.normEpsilon) }
            linear(q.pointer, xn.pointer, rows: t, layer.wq)
            linear(k.pointer, xn.pointer, rows: t, layer.wk)
            linear(v.pointer, xn.pointer, rows: t, layer.wv)
            let (qp, kp) = (q.pointer, k.pointer)
            byRows(t) { r0, n in
                self.ropeRows(qp + r0 * c.qDim, rows: n, heads: c.headCount, startPosition: p0 + r0)
                self.ropeRows(kp + r0 * c.kvDim, rows: n, heads: c.kvHeadCount, startPosition: p0 + r0)
            }
            storeKeysValues(layer: l, rows: t, startPosition: p0)
            attention(layer: l, rows: t, startPosition: p0)
            linear(tmp.pointer, att.pointer, rows: t, layer.wo)
            byRows(t) { r0, n in addInPlace(xp + r0 * d, tp + r0 * d, count: n * d) }
            // MLP block.
            byRows(t) { r0, n in rmsNormRows(xnp + r0 * d, xp + r0 * d, layer.ffnNorm, rows: n, dim: d, epsilon: c.normEpsilon) }
            linear(gate.pointer, xn.pointer, rows: t, layer.wGate)
            linear(up.pointer, xn.pointer, rows: t, layer.wUp)
            let (gp, up_) = (gate.pointer, up.pointer)
            byRows(t) { r0, n in swiGLU(gp + r0 * c.ffnDim, up_ + r0 * c.ffnDim, count: n * c.ffnDim) }
            linear(tmp.pointer, gate.pointer, rows: t, layer.wDown)
            byRows(t) { r0, n in addInPlace(xp + r0 * d, tp + r0 * d, count: n * d) }
        }
        position += t
        switch want {
        case .none:
            return UnsafeBufferPointer(start: logits.pointer, count: 0)
        case .last:
            rmsNormRows(xn.pointer, x.pointer + (t - 1) * d, model.finalNorm, rows: 1, dim: d, epsilon: c.normEpsilon)
            linear(logits.pointer, xn.pointer, rows: 1, model.output)
            return UnsafeBufferPointer(start: logits.pointer, count: c.vocabSize)
        case .all:
            rmsNormRows(xn.pointer, x.pointer, model.finalNorm, rows: t, dim: d, epsilon: c.normEpsilon)
            linear(logits.pointer, xn.pointer, rows: t, model.output)
            return UnsafeBufferPointer(start: logits.pointer, count: t * c.vocabSize)
        }
    }

    // MARK: - Layers

    /// Runs a row-wise element-wise step over rows 0 ..< t: on the pool in row blocks for
    /// batches (prefill), inline for a few rows. Rows are independent, so results are identical.
    @inline(__always)
    func byRows(_ t: Int, _ body: (Int, Int) -> Void) {
        if t < 16 || pool.threadCount == 1 {
            body(0, t)
        } else {
            pool.parallelChunks(t, minChunk: 8) { range in body(range.lowerBound, range.count) }
        }
    }

    /// y[T, N] = x[T, K] · Wᵀ in W's dtype. INT8 weights run W8A8: activations quantized per
    /// token (or with W's static activation scale when the file stores one).
    func linear(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, rows t: Int, _ w: RuntimeMatrix) {
        let kd = w.cols, n = w.rows
        switch w.dtype {
        case .f32:
            matmulF32(y, x, w.data.assumingMemoryBound(to: Float.self), rows: t, inDim: kd, outDim: n, pool: pool)
        case .f16:
            matmulF16(y, x, w.data.assumingMemoryBound(to: UInt16.self), rows: t, inDim: kd, outDim: n, pool: pool)
        case .int8PerChannel, .int8PerGroup:
            if w.activationDigits == 2 {
                linearTwoDigits(y, x, rows: t, w)
                return
            }
            if w.activationScale > 0 {
                quantizeRowsStatic(xq.pointer, xScales.pointer, x, rows: t, cols: kd, scale: w.activationScale)
            } else {
                quantizeRowsInt8(xq.pointer, xScales.pointer, x, rows: t, cols: kd)
            }
            let wq = w.data.assumingMemoryBound(to: Int8.self)
            if w.dtype == .int8PerChannel {
                matmulInt8(y, xq.pointer, xScales.pointer, wq, w.scales!, rows: t, inDim: kd, outDim: n, pool: pool)
            } else {
                matmulInt8Grouped(y, xq.pointer, xScales.pointer, wq, w.scales!, rows: t, inDim: kd, outDim: n,
                                  groupSize: w.groupSize, pool: pool)
            }
        }
    }

    /// `linear` for an int8 matrix with two-digit activations: each row x is quantized per token
    /// to q₁·s₁, its residual x − q₁·s₁ (|·| ≤ s₁/2) again to q₂·s₂, and y = W(q₁·s₁) + W(q₂·s₂):
    /// about 15 bits of activation precision through the int8 kernels, which run both digits of a
    /// row block in one call so each weight tile is read once for both.
    func linearTwoDigits(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, rows t: Int, _ w: RuntimeMatrix) {
        let kd = w.cols, n = w.rows, b = digitRows
        precondition(b > 0, "linearTwoDigits: the session has no two-digit buffers")
        precondition(2 * min(b, t) * n <= digitOut.count, "linearTwoDigits: more rows than the session sized for")
        let wq = w.data.assumingMemoryBound(to: Int8.self)
        var r0 = 0
        while r0 < t {
            let rows = min(b, t - r0)
            let xr = x + r0 * kd
            let q1 = digitQ.pointer, q2 = digitQ.pointer + rows * kd
            let s1 = digitScales.pointer, s2 = digitScales.pointer + rows
            quantizeRowsInt8(q1, s1, xr, rows: rows, cols: kd)
            for r in 0..<rows {
                let scale = s1[r], src = xr + r * kd, q = q1 + r * kd, res = digitResidual.pointer + r * kd
                for i in 0..<kd { res[i] = src[i] - Float(q[i]) * scale }
            }
            quantizeRowsInt8(q2, s2, digitResidual.pointer, rows: rows, cols: kd)
            if w.dtype == .int8PerChannel {
                matmulInt8(digitOut.pointer, q1, s1, wq, w.scales!, rows: 2 * rows, inDim: kd, outDim: n, pool: pool)
            } else {
                matmulInt8Grouped(digitOut.pointer, q1, s1, wq, w.scales!, rows: 2 * rows, inDim: kd, outDim: n,
                                  groupSize: w.groupSize, pool: pool)
            }
            for r in 0..<rows {
                let out = y + (r0 + r) * n, first = digitOut.pointer + r * n, second = digitOut.pointer + (rows + r) * n
                for j in 0..<n { out[j] = first[j] + second[j] }
            }
            r0 += rows
        }
    }

    /// Rotates adjacent pairs (x[2i], x[2i+1]) of every head by position·θ_i (GGUF Q/K pairing).
    func ropeRows(_ x: UnsafeMutablePointer<Float>, rows t: Int, heads: Int, startPosition p0: Int) {
        let e = model.config.headDim
        for r in 0..<t {
            let table = cosSin.pointer + (p0 + r) * e
            for h in 0..<heads {
                let vec = x + (r * heads + h) * e
                var i = 0
                while i < e {
                    let co = table[i], s = table[i + 1]
                    let a = vec[i], b = vec[i + 1]
                    vec[i] = a * co - b * s
                    vec[i + 1] = a * s + b * co
                    i += 2
                }
            }
        }
    }

    /// Copies the batch's keys and values into the cache, head-major: (G, C, E) per layer.
    func storeKeysValues(layer l: Int, rows t: Int, startPosition p0: Int) {
        let c = model.config, e = c.headDim
        for g in 0..<c.kvHeadCount {
            let base = ((l * c.kvHeadCount + g) * capacity + p0) * e
            for r in 0..<t {
                (keys.pointer + base + r * e).update(from: k.pointer + r * c.kvDim + g * e, count: e)
                (values.pointer + base + r * e).update(from: v.pointer + r * c.kvDim + g * e, count: e)
            }
        }
    }

    /// Causal grouped-query attention of the T new rows over cached positions 0 ..< p0 + T, split
    /// into (head, block of rows) tasks over the pool. A block multiplies only against the keys
    /// its last row can see.
    func attention(layer l: Int, rows t: Int, startPosition p0: Int) {
        let c = model.config, e = c.headDim
        let group = c.headCount / c.kvHeadCount
        let scale = 1 / Float(e).squareRoot()
        let block = min(t, RuntimeSession.attentionBlock)
        let blocks = (t + block - 1) / block
        let tasks = c.headCount * blocks
        let workers = min(pool.threadCount, tasks)
        let qBase = q.pointer, out = att.pointer, cap = capacity
        let keyBase = keys.pointer, valueBase = values.pointer
        let qScratch = headQuery.pointer, sScratch = scores.pointer
        pool.parallelFor(workers) { worker in
            let qh = qScratch + worker * block * e
            let s = sScratch + worker * block * cap
            var task = worker
            while task < tasks {
                let h = task % c.headCount, b = task / c.headCount
                let g = h / group
                let r0 = b * block, rows = min(block, t - r0)
                let span = p0 + r0 + rows
                let kh = keyBase + (l * c.kvHeadCount + g) * cap * e
                let vh = valueBase + (l * c.kvHeadCount + g) * cap * e
                // qh = scale · q[r0 ..< r0+rows, head h]
                for r in 0..<rows {
                    let src = qBase + (r0 + r) * c.qDim + h * e, dst = qh + r * e
                    var i = 0
                    while i + 8 <= e {
                        store8(load8(src + i) * scale, dst + i)
                        i += 8
                    }
                    while i < e {
                        dst[i] = src[i] * scale
                        i += 1
                    }
                }
                // s (rows, span) = qh · K_hᵀ
                matmulF32(s, qh, kh, rows: rows, inDim: e, outDim: span, pool: nil)
                for r in 0..<rows {
                    let row = s + r * span
                    let valid = p0 + r0 + r + 1
                    softmaxRow(row, count: valid)
                    // att[r0 + r, head h] = Σ_p row[p] · V_h[p]
                    let dst = out + (r0 + r) * c.qDim + h * e
                    weightedSum(dst, row, vh, count: valid, width: e)
                }
                task += workers
            }
        }
    }
}

// MARK: - Element-wise kernels (free functions, output first)
//
// Portable Swift SIMD (SSE on x86-64, NEON on arm64), never C: the runtime must compute the same
// floats on every device so greedy decoding picks the same tokens. Sums run over 8 lanes and are
// reduced by `laneSum`, in the same order everywhere.

@inline(__always)
private func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always)
private func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// Σ lanes as a fixed tree: ((0+4) + (2+6)) + ((1+5) + (3+7)).
@inline(__always)
private func laneSum(_ v: SIMD8<Float>) -> Float {
    let h = v.lowHalf + v.highHalf
    let q = h.lowHalf + h.highHalf
    return q[0] + q[1]
}

/// out[t, :] = x[t, :] / sqrt(mean(x[t, :]²) + ε) ⊙ weight.
func rmsNormRows(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>,
                 rows t: Int, dim d: Int, epsilon: Float) {
    let dv = d & ~7
    for r in 0..<t {
        let xr = x + r * d, o = out + r * d
        var acc = SIMD8<Float>()
        var i = 0
        while i < dv {
            let v = load8(xr + i)
            acc += v * v
            i += 8
        }
        var ss = laneSum(acc)
        for j in dv..<d { ss += xr[j] * xr[j] }
        let s = 1 / (ss / Float(d) + epsilon).squareRoot()
        i = 0
        while i < dv {
            store8(load8(xr + i) * s * load8(weight + i), o + i)
            i += 8
        }
        for j in dv..<d { o[j] = xr[j] * s * weight[j] }
    }
}

/// x += y.
func addInPlace(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, count n: Int) {
    var i = 0
    while i + 8 <= n {
        store8(load8(x + i) + load8(y + i), x + i)
        i += 8
    }
    while i < n {
        x[i] += y[i]
        i += 1
    }
}

/// gate = silu(gate) ⊙ up.
func swiGLU(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, count n: Int) {
    var i = 0
    while i + 8 <= n {
        let g = load8(gate + i)
        store8(g / (1 + expApprox(-g)) * load8(up + i), gate + i)
        i += 8
    }
    while i < n {
        let g = gate[i]
        gate[i] = g / (1 + expApprox(-g)) * up[i]
        i += 1
    }
}

/// Softmax in place over row[0 ..< count].
func softmaxRow(_ row: UnsafeMutablePointer<Float>, count n: Int) {
    let nv = n & ~7
    var m8 = SIMD8<Float>(repeating: -.infinity)
    var i = 0
    while i < nv {
        let v = load8(row + i)
        m8.replace(with: v, where: v .> m8)     // pointwiseMax is not inlined
        i += 8
    }
    var m = m8.max()
    for j in nv..<n { m = max(m, row[j]) }
    var sum8 = SIMD8<Float>()
    i = 0
    while i < nv {
        let e = expApprox(load8(row + i) - m)
        store8(e, row + i)
        sum8 += e
        i += 8
    }
    var sum = laneSum(sum8)
    for j in nv..<n {
        let e = expApprox(row[j] - m)
        row[j] = e
        sum += e
    }
    let inv = 1 / sum
    i = 0
    while i < nv {
        store8(load8(row + i) * inv, row + i)
        i += 8
    }
    for j in nv..<n { row[j] *= inv }
}

/// dst[0 ..< width] = Σ_p weights[p] · rows[p, 0 ..< width]  (rows contiguous, stride `width`).
/// Columns go in slabs of 32 whose four 8-lane sums stay in registers over all p.
func weightedSum(_ dst: UnsafeMutablePointer<Float>, _ weights: UnsafePointer<Float>, _ rows: UnsafePointer<Float>,
                 count n: Int, width e: Int) {
    var c = 0
    while c + 32 <= e {
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
        for p in 0..<n {
            let w = SIMD8<Float>(repeating: weights[p])
            let row = rows + p * e + c
            a0 += w * load8(row)
            a1 += w * load8(row + 8)
            a2 += w * load8(row + 16)
            a3 += w * load8(row + 24)
        }
        store8(a0, dst + c)
        store8(a1, dst + c + 8)
        store8(a2, dst + c + 16)
        store8(a3, dst + c + 24)
        c += 32
    }
    while c + 8 <= e {
        var a = SIMD8<Float>()
        for p in 0..<n { a += SIMD8<Float>(repeating: weights[p]) * load8(rows + p * e + c) }
        store8(a, dst + c)
        c += 8
    }
    while c < e {
        var a: Float = 0
        for p in 0..<n { a += weights[p] * rows[p * e + c] }
        dst[c] = a
        c += 1
    }
}

/// Quantizes rows with one fixed activation scale (static W8A8): q = clamp(round(x / s), ±127).
func quantizeRowsStatic(_ out: UnsafeMutablePointer<Int8>, _ scales: UnsafeMutablePointer<Float>,
                        _ x: UnsafePointer<Float>, rows t: Int, cols k: Int, scale: Float) {
    let inv = 1 / scale
    for r in 0..<t {
        scales[r] = scale
        for i in 0..<k {
            let v = (x[r * k + i] * inv).rounded(.toNearestOrEven)
            out[r * k + i] = Int8(max(-127, min(127, v)))
        }
    }
}
