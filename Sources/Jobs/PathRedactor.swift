import Foundation

// MARK: - Naming files without the host's paths

/// Rewrites text so that it names files relative to the folders a client
/// knows (the data directory, the model folders) rather than by absolute
/// host path: `<root>/x/y` becomes `x/y` for every root, longest first;
/// any other absolute path (a root named alone included) keeps only its
/// last component. Job records,
/// errors, notes and job logs pass through it.
public struct PathRedactor: Sendable {
    /// Absolute roots, longest first, without a trailing slash.
    public let roots: [String]

    /// Roots given as paths (relative ones are made absolute from the
    /// working directory); symlinks are resolved too, so both spellings go.
    public init(roots: [String]) {
        var all: Set<String> = []
        for r in roots where !r.isEmpty {
            let url = URL(fileURLWithPath: r).standardizedFileURL
            for p in [url.path, url.resolvingSymlinksInPath().path] where p != "/" && p.count > 1 {
                all.insert(p.hasSuffix("/") ? String(p.dropLast()) : p)
            }
        }
        self.roots = all.sorted { ($0.count, $0) > ($1.count, $1) }
    }

    /// `text` with every root and every other absolute path shortened.
    public func callAsFunction(_ text: String) -> String {
        guard text.contains("/") else { return text }
        var out = text
        for root in roots { out = Self.strip(root + "/", from: out) }
        return Self.shortenAbsolute(out)
    }

    /// `text` without each occurrence of `prefix` that starts a path (at
    /// the start, or after a character that cannot be part of one), so
    /// root `/app` leaves `/srv/app/x` alone.
    static func strip(_ prefix: String, from text: String) -> String {
        guard text.contains(prefix) else { return text }
        var out = ""
        var rest = Substring(text)
        while let range = rest.range(of: prefix) {
            let before = rest[..<range.lowerBound]
            out += before
            let previous = before.last ?? out.last
            if let p = previous, p.isLetter || p.isNumber || "/._-~".contains(p) {
                out += rest[range]  // inside another path: kept
            }
            rest = rest[range.upperBound...]
        }
        return out + rest
    }

    /// Absolute paths left (`/a/b/c` preceded by a start, space, quote or
    /// parenthesis) reduced to their last component.
    static func shortenAbsolute(_ text: String) -> String {
        guard text.contains("/") else { return text }
        var out = ""
        var i = text.startIndex
        var previous: Character = " "
        while i < text.endIndex {
            let c = text[i]
            if c == "/" && " \"'(=[,\t\n".contains(previous) {
                var j = i
                while j < text.endIndex, !" \"'),;]\t\n".contains(text[j]) { j = text.index(after: j) }
                let path = text[i..<j]
                // Only paths of two or more components: "/" alone, or a/b ratios, stay.
                let parts = path.split(separator: "/")
                if parts.count >= 2, let last = parts.last {
                    out += last
                } else {
                    out += path
                }
                previous = path.last ?? c
                i = j
                continue
            }
            out.append(c)
            previous = c
            i = text.index(after: i)
        }
        return out
    }
}
