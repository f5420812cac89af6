// BERT text normalisation, step for step as Hugging Face tokenizers'
// `BertNormalizer` (normalizers/bert.rs) does it:
//
//   1. clean_text:           drop NUL, U+FFFD and control/format/private-use
//                            characters; map whitespace to ' '
//   2. handle_chinese_chars: put ' ' on both sides of each CJK ideograph
//   3. strip_accents:        NFD (decompose, reorder combining marks by
//                            class), then drop non-spacing marks (Mn).
//                            Default: on when lowercasing
//   4. lowercase:            per-scalar lowercase mapping (no final-sigma rule)
//
// Input is UTF-8 (a Swift string's bytes, so always valid); output is a
// stream of scalars handed to a `ScalarSink`, with no buffer in between.
// ASCII takes a short path. The character classes come from
// UnicodeProperties, which carries the tokenizers package's Unicode data.

/// The `BertNormalizer` settings of a tokenizer.json.
struct BertNormalizer: Sendable, Equatable {
    var cleanText = true
    var handleChineseChars = true
    /// nil: follow `lowercase` (as tokenizers does).
    var stripAccents: Bool? = nil
    var lowercase = true

    /// No normalisation at all (a tokenizer.json with `"normalizer": null`).
    static let identity = BertNormalizer(cleanText: false, handleChineseChars: false, stripAccents: false, lowercase: false)

    /// Whether accents are stripped, after the default is applied.
    var stripsAccents: Bool { stripAccents ?? lowercase }
}

/// Receives normalised scalars one at a time.
protocol ScalarSink {
    mutating func put(_ c: UInt32)
    /// True once the sink wants no more input (enough tokens for truncation).
    var isFull: Bool { get }
}

/// A combining mark waiting for canonical reordering: (scalar, class).
typealias PendingMark = (scalar: UInt32, combiningClass: UInt8)

extension BertNormalizer {
    /// Normalises `text` (UTF-8) into `sink`. `marks` is scratch space for
    /// NFD reordering; it is left empty.
    func normalize<Sink: ScalarSink>(
        _ text: UnsafeBufferPointer<UInt8>, into sink: inout Sink, marks: inout [PendingMark]
    ) {
        let props = UnicodeProperties.shared
        let strip = stripsAccents
        var i = 0
        let n = text.count
        while i < n {
            if sink.isFull { break }
            let b0 = text[i]
            // MARK: ASCII
            if b0 < 0x80 {
                i += 1
                var c = UInt32(b0)
                if b0 < 0x20 || b0 == 0x7F {
                    if cleanText {
                        // TAB, LF, CR are whitespace; every other C0 control and DEL is dropped.
                        guard b0 == 0x09 || b0 == 0x0A || b0 == 0x0D else { continue }
                        c = 0x20
                    }
                }
                if strip && !marks.isEmpty { flushMarks(&marks, into: &sink, props) }
                if lowercase && b0 >= 0x41 && b0 <= 0x5A { c += 0x20 }
                sink.put(c)
                continue
            }
            // MARK: Other scalars (valid UTF-8 guaranteed by String)
            var c: UInt32
            if b0 < 0xE0 {
                c = UInt32(b0 & 0x1F) << 6 | UInt32(text[i + 1] & 0x3F)
                i += 2
            } else if b0 < 0xF0 {
                c = UInt32(b0 & 0x0F) << 12 | UInt32(text[i + 1] & 0x3F) << 6 | UInt32(text[i + 2] & 0x3F)
                i += 3
            } else {
                c = UInt32(b0 & 0x07) << 18 | UInt32(text[i + 1] & 0x3F) << 12
                    | UInt32(text[i + 2] & 0x3F) << 6 | UInt32(text[i + 3] & 0x3F)
                i += 4
            }
            let flags = props.flags(c)
            if cleanText {
                if flags.contains(.removedByCleanText) { continue }
                if flags.contains(.whitespace) { c = 0x20 }
            }
            if handleChineseChars && flags.contains(.chinese) {
                afterCleaning(0x20, ScalarFlags.whitespace, strip, into: &sink, marks: &marks, props)
                afterCleaning(c, flags, strip, into: &sink, marks: &marks, props)
                afterCleaning(0x20, ScalarFlags.whitespace, strip, into: &sink, marks: &marks, props)
            } else {
                afterCleaning(c, c == 0x20 ? ScalarFlags.whitespace : flags, strip, into: &sink, marks: &marks, props)
            }
        }
        if !marks.isEmpty { flushMarks(&marks, into: &sink, props) }
    }

    /// Steps 3 and 4 for one scalar.
    @inline(__always)
    private func afterCleaning<Sink: ScalarSink>(
        _ c: UInt32, _ flags: ScalarFlags, _ strip: Bool,
        into sink: inout Sink, marks: inout [PendingMark], _ props: UnicodeProperties
    ) {
        guard strip else {
            emitLowercased(c, flags, into: &sink, props)
            return
        }
        if flags.contains(.decomposes) {
            props.forEachDecomposed(c) { d in
                reorderAndStrip(d, props.flags(d), into: &sink, marks: &marks, props)
            }
        } else {
            reorderAndStrip(c, flags, into: &sink, marks: &marks, props)
        }
    }

    /// Canonical ordering: a run of marks with non-zero combining class is
    /// sorted (stably) by class before anything after it is emitted. Marks of
    /// category Mn are then dropped.
    @inline(__always)
    private func reorderAndStrip<Sink: ScalarSink>(
        _ d: UInt32, _ flags: ScalarFlags,
        into sink: inout Sink, marks: inout [PendingMark], _ props: UnicodeProperties
    ) {
        if flags.contains(.combining) {
            marks.append((d, props.combiningClass(d)))
            return
        }
        if !marks.isEmpty { flushMarks(&marks, into: &sink, props) }
        if flags.contains(.nonspacingMark) { return }
        emitLowercased(d, flags, into: &sink, props)
    }

    private func flushMarks<Sink: ScalarSink>(
        _ marks: inout [PendingMark], into sink: inout Sink, _ props: UnicodeProperties
    ) {
        if marks.count > 1 {
            // Insertion sort: stable, and runs are a handful of marks long.
            for j in 1..<marks.count {
                let m = marks[j]
                var k = j
                while k > 0 && marks[k - 1].combiningClass > m.combiningClass {
                    marks[k] = marks[k - 1]
                    k -= 1
                }
                marks[k] = m
            }
        }
        for m in marks {
            let flags = props.flags(m.scalar)
            if !flags.contains(.nonspacingMark) { emitLowercased(m.scalar, flags, into: &sink, props) }
        }
        marks.removeAll(keepingCapacity: true)
    }

    @inline(__always)
    private func emitLowercased<Sink: ScalarSink>(
        _ c: UInt32, _ flags: ScalarFlags, into sink: inout Sink, _ props: UnicodeProperties
    ) {
        if lowercase && flags.contains(.hasLowercase) {
            for l in props.lowercase(c) { sink.put(l) }
        } else {
            sink.put(c)
        }
    }
}
