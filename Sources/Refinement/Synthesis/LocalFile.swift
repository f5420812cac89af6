#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

// MARK: - Files a job may open

/// Checks made before a job opens a file a request named. Opening a FIFO
/// blocks until someone writes to it, and a device can be endless, so a
/// job only opens regular files (symbolic links to them included).
enum LocalFile {
    /// Whether `path` is a regular file (after following links).
    static func isRegular(_ path: String) -> Bool {
        var st = stat()
        guard stat(path, &st) == 0 else { return false }
        return (st.st_mode & S_IFMT) == S_IFREG
    }

    /// Whether `path` exists and is neither a regular file nor a folder.
    static func isSpecial(_ path: String) -> Bool {
        var st = stat()
        guard stat(path, &st) == 0 else { return false }
        let type = st.st_mode & S_IFMT
        return type != S_IFREG && type != S_IFDIR
    }

    /// The one message for a local generator that cannot be used, whether
    /// it is missing, not a regular file, unreadable or not a GGUF model:
    /// a request cannot learn from it which files exist on the server.
    static func generatorRefusal(_ generator: String) -> String {
        "generator \(generator) is not a usable GGUF model file on this server; give a GGUF file the server can read, or an http(s) URL of an OpenAI-compatible server"
    }
}
