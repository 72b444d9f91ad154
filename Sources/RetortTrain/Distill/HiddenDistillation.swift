import RetortModel

// Hidden-state distillation: the β·hidden term of the objective. A pruned student's block i is a
// slimmed copy of teacher block keptLayers[i], and its residual channel c is the teacher's channel
// keptChannels[c]; so the student's residual stream after block i is aligned with the teacher's
// after block keptLayers[i], restricted to the kept channels. No projection is needed, and at the
// start of training (before any update) the two already agree where the pruning kept everything.
//
// Per aligned block a, over the N = B·T rows of a micro-batch:
//   hidden_a = mean_r loss(y_r, t_r)      (cosine: 1 − cos; mse: mean squared error per element)
//   hidden   = mean_a hidden_a            objective += β · hidden
// so ∂objective/∂loss_r = β / (A · N) (times the micro-batch scale), the `scale` the backward takes.

/// How hidden rows are compared in distillation (stored in settings; see `HiddenAlignmentKind`).
public enum HiddenLossKind: String, Codable, Sendable, CaseIterable {
    case cosine, mse
}

/// Which student blocks are aligned with which teacher blocks, on which teacher channels.
public struct HiddenAlignmentMap: Codable, Equatable, Sendable {
    /// Aligned student blocks, ascending.
    public var studentLayers: [Int]
    /// The teacher block each is aligned with.
    public var teacherLayers: [Int]
    /// (D_s) the teacher residual channel behind each student channel.
    public var channels: [Int]

    /// The map of a pruned student: `studentLayers` (ascending, distinct) against the plan's kept
    /// blocks and residual channels.
    public init(plan: PruningPlan, studentLayers: [Int]) {
        self.studentLayers = studentLayers
        teacherLayers = studentLayers.map { plan.keptLayers[$0] }
        channels = plan.keptChannels
    }

    /// Checks the map against both shapes; errors name the field.
    public func validate(student: LlamaConfig, teacher: LlamaConfig, source: String = "distill") throws {
        func fail(_ message: String) -> ModelError { ModelError(file: source, field: "hidden-layers", message: message) }
        guard !studentLayers.isEmpty, studentLayers.count == teacherLayers.count else { throw fail("no aligned blocks") }
        for (i, (s, t)) in zip(studentLayers, teacherLayers).enumerated() {
            guard (0..<student.layerCount).contains(s), (0..<teacher.layerCount).contains(t) else {
                throw fail("pair \(i): student block \(s) / teacher block \(t) out of range")
            }
            if i > 0, s <= studentLayers[i - 1] { throw fail("student blocks must be ascending and distinct") }
        }
        guard channels.count == student.dim, channels.allSatisfy({ (0..<teacher.dim).contains($0) }) else {
            throw fail("\(channels.count) channels for a student of width \(student.dim) (teacher \(teacher.dim))")
        }
    }
}

/// Parses `--hidden-layers`: `all`, `last`, or comma-separated student block indices.
public func parseHiddenLayers(_ text: String, layerCount: Int, source: String = "--hidden-layers") throws -> [Int] {
    switch text {
    case "all": return Array(0..<layerCount)
    case "last": return [layerCount - 1]
    default:
        var layers: [Int] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let i = Int(part), (0..<layerCount).contains(i) else {
                throw ModelError(file: source, field: "hidden-layers", message: "'\(part)' is not a student block in 0..<\(layerCount) (or all, last)")
            }
            layers.append(i)
        }
        return Array(Set(layers)).sorted()
    }
}

/// The teacher's hidden states for one micro-batch: runs the teacher's blocks on each window and
/// keeps the aligned blocks' residual streams, restricted to the student's channels.
final class TeacherHiddenStates {
    let session: LlamaSession
    let map: HiddenAlignmentMap
    let rows: Int                    // N = B·T
    let sequenceLength: Int          // T
    let buffer: FloatBuffer          // (A, N, D_s)
    private let slotOfTeacherLayer: [Int: Int]

    init(teacher: LlamaModel, map: HiddenAlignmentMap, sequenceLength: Int, batch: Int) {
        session = LlamaSession(model: teacher, capacity: sequenceLength)
        self.map = map
        rows = batch * sequenceLength
        self.sequenceLength = sequenceLength
        buffer = FloatBuffer(count: map.teacherLayers.count * rows * map.channels.count)
        slotOfTeacherLayer = Dictionary(uniqueKeysWithValues: map.teacherLayers.enumerated().map { ($1, $0) })
    }

    /// Runs the teacher on one window (T tokens) and stores its rows as sequence `slot` of the batch.
    func compute(_ tokens: [Int32], slot: Int) throws {
        let ds = map.channels.count, n = rows, t = sequenceLength
        let out = buffer.pointer, slots = slotOfTeacherLayer
        session.reset()
        defer { session.residualObserver = nil }
        let channels = map.channels
        session.residualObserver = { layer, values, count, width in
            guard let a = slots[layer] else { return }
            let base = out + (a * n + slot * t) * ds
            for r in 0..<count {
                let src = values + r * width, dst = base + r * ds
                for i in 0..<ds { dst[i] = src[channels[i]] }
            }
        }
        try session.forward(tokens, logits: .none)
    }

    /// The teacher rows (N, D_s) of aligned block `a`.
    func target(_ a: Int) -> UnsafePointer<Float> {
        UnsafePointer(buffer.pointer + a * rows * map.channels.count)
    }
}

/// The hidden term of one micro-batch: loss forward and gradients w.r.t. the student's aligned
/// hidden states (into `gradients[a]`, zeroed first). Returns mean_a hidden_a (before β).
func hiddenDistillationTerm(graph: TrainingGraph, teacher: TeacherHiddenStates, kind: HiddenLossKind, beta: Float,
                            scale: Float, gradients: [FloatBuffer], losses: UnsafeMutablePointer<Float>) -> Double {
    let map = teacher.map, n = teacher.rows, ds = map.channels.count, count = map.studentLayers.count
    let rowScale = scale * beta / Float(count * n)
    var total = 0.0
    for (a, layer) in map.studentLayers.enumerated() {
        let y = UnsafePointer(graph.hiddenState(after: layer)), t = teacher.target(a), g = gradients[a].pointer
        g.update(repeating: 0, count: n * ds)
        switch kind {
        case .cosine:
            total += Double(hiddenCosineForward(losses, y, t, rows: n, dim: ds))
            hiddenCosineBackward(g, y, t, rows: n, dim: ds, scale: rowScale)
        case .mse:
            total += Double(hiddenMSEForward(losses, y, t, rows: n, dim: ds))
            hiddenMSEBackward(g, y, t, rows: n, dim: ds, scale: rowScale)
        }
    }
    return total / Double(count)
}
