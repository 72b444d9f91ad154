extension BPETokenizer {
    /// Token ids for `text`. `addSpecial` adds BOS/EOS as the vocabulary asks (`addBOS`, `addEOS`);
    /// `parseSpecial` turns control-token texts such as "<|im_start|>" into their ids (user-defined
    /// tokens are always recognized, as in llama.cpp).
    public func encode(_ text: [UInt8], addSpecial: Bool = true, parseSpecial: Bool = false) -> [Int32] {
        var out: [Int32] = []
        out.reserveCapacity(text.count / 3 + 2)
        if addSpecial, addBOS, let bosID { out.append(bosID) }
        var session = EncodeSession()
        for fragment in specialTokens.partition(text, parseSpecial: parseSpecial) {
            switch fragment {
            case .token(let id): out.append(id)
            case .text(let range): encodeText(text[range], &session, into: &out)
            }
        }
        if addSpecial, addEOS, let eosID { out.append(eosID) }
        return out
    }

    public func encode(_ text: String, addSpecial: Bool = true, parseSpecial: Bool = false) -> [Int32] {
        encode(Array(text.utf8), addSpecial: addSpecial, parseSpecial: parseSpecial)
    }

    /// Pre-tokenizes one stretch of plain text and appends the BPE tokens of each word.
    func encodeText(_ text: ArraySlice<UInt8>, _ s: inout EncodeSession, into out: inout [Int32]) {
        s.codepoints.load(text)
        preTokenizer.segment(s.codepoints, ends: &s.ends, scratch: &s.scratch)
        var start = 0
        for end in s.ends {
            let word = text[s.codepoints.byteOffsets[start]..<s.codepoints.byteOffsets[end]]
            start = end
            if let cached = s.cache[word] {
                out.append(contentsOf: s.cachedIDs[cached])
                continue
            }
            let first = out.count
            encodeWord(word, &s, into: &out)
            let cached = s.cachedIDs.count
            s.cachedIDs.append(contentsOf: out[first...])
            s.cache[word] = cached..<s.cachedIDs.count
        }
    }

    /// Merge-rank BPE over the bytes of one word (llama.cpp `llm_tokenizer_bpe_session`): start
    /// from one symbol per byte; repeatedly merge the adjacent pair of lowest rank, the leftmost
    /// on ties; emit the final symbols. A byte without a one-byte token is dropped, as there.
    func encodeWord(_ word: ArraySlice<UInt8>, _ s: inout EncodeSession, into out: inout [Int32]) {
        if preTokenizer.ignoresMerges {
            s.encoded.removeAll(keepingCapacity: true)
            ByteLevel.encode(word, into: &s.encoded)
            if let id = tokens.id(of: s.encoded) {
                out.append(id)
                return
            }
        }
        if word.count == 1 {
            let id = byteTokenIDs[Int(word[word.startIndex])]
            if id >= 0 { out.append(id) }
            return
        }

        // Symbols form a linked list in word order; a merge folds the right symbol into the left.
        s.symbols.removeAll(keepingCapacity: true)
        let n = word.count
        for (i, b) in word.enumerated() {
            s.symbols.append(Symbol(id: byteTokenIDs[Int(b)], prev: Int32(i - 1), next: i + 1 == n ? -1 : Int32(i + 1), alive: true))
        }
        s.queue.removeAll(keepingCapacity: true)
        for i in 1..<n { enqueuePair(Int32(i - 1), Int32(i), &s) }

        while let pair = s.queue.popMin() {
            let (l, r) = (Int(pair.left), Int(pair.right))
            // Skip a pair that a merge since its creation has changed.
            guard s.symbols[l].alive, s.symbols[r].alive,
                  s.symbols[l].id == pair.leftID, s.symbols[r].id == pair.rightID else { continue }
            s.symbols[l].id = pair.result
            s.symbols[r].alive = false
            let next = s.symbols[r].next
            s.symbols[l].next = next
            if next >= 0 { s.symbols[Int(next)].prev = pair.left }
            enqueuePair(s.symbols[l].prev, pair.left, &s)
            enqueuePair(pair.left, next, &s)
        }

        var i: Int32 = 0  // the first symbol only ever grows, so it heads the list
        while i >= 0 {
            let id = s.symbols[Int(i)].id
            if id >= 0 { out.append(id) }
            i = s.symbols[Int(i)].next
        }
    }

    private func enqueuePair(_ left: Int32, _ right: Int32, _ s: inout EncodeSession) {
        guard left >= 0, right >= 0 else { return }
        let leftID = s.symbols[Int(left)].id
        let rightID = s.symbols[Int(right)].id
        guard leftID >= 0, rightID >= 0, let rule = merges[MergeRule.key(leftID, rightID)] else { return }
        s.queue.push(PairCandidate(rank: rule.rank, left: left, right: right,
                                   leftID: leftID, rightID: rightID, result: rule.result))
    }
}

/// Scratch state of one `encode` call: buffers reused from word to word, and the ids of every
/// distinct word seen so far (keyed by the word's bytes in the caller's text).
struct EncodeSession {
    var codepoints = CodepointBuffer()
    var ends: [Int] = []
    var scratch: [Int] = []
    var symbols: [Symbol] = []
    var queue = PairQueue()
    var encoded: [UInt8] = []
    var cache: [ArraySlice<UInt8>: Range<Int>] = [:]
    var cachedIDs: [Int32] = []
}

/// One symbol of a word being merged: its current token and its neighbours (-1: none).
struct Symbol {
    var id: Int32
    var prev: Int32
    var next: Int32
    var alive: Bool
}

/// An adjacent pair that has a merge rule, with the ids it had when queued.
struct PairCandidate {
    var rank: Int32
    var left: Int32
    var right: Int32
    var leftID: Int32
    var rightID: Int32
    var result: Int32

    /// Lower rank first; on equal rank the leftmost pair (llama.cpp `llm_bigram_bpe::comparator`).
    func precedes(_ other: PairCandidate) -> Bool {
        rank != other.rank ? rank < other.rank : left < other.left
    }
}

/// Binary min-heap of pair candidates.
struct PairQueue {
    private var heap: [PairCandidate] = []

    mutating func removeAll(keepingCapacity: Bool) { heap.removeAll(keepingCapacity: keepingCapacity) }

    mutating func push(_ item: PairCandidate) {
        heap.append(item)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].precedes(heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func popMin() -> PairCandidate? {
        guard let last = heap.popLast() else { return nil }
        guard !heap.isEmpty else { return last }
        let top = heap[0]
        heap[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1
            guard left < heap.count else { break }
            var best = left
            if left + 1 < heap.count, heap[left + 1].precedes(heap[left]) { best = left + 1 }
            guard heap[best].precedes(heap[parent]) else { break }
            heap.swapAt(best, parent)
            parent = best
        }
        return top
    }
}
