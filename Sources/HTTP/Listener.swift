#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Listener

/// Opening the listening socket and naming peers.
enum Listener {
    /// A non-blocking listening socket bound to `host:port`; answers it and the bound port.
    static func open(host: String, port: Int, backlog: Int32) throws -> (fd: Int32, port: Int) {
        guard (0...65535).contains(port) else { throw HTTPServerError.invalidHost("\(host):\(port)") }
        let literal = host == "localhost" ? "127.0.0.1" : host
        var v4 = sockaddr_in()
        var v6 = sockaddr_in6()
        let family: Int32
        if inet_pton(AF_INET, literal, &v4.sin_addr) == 1 {
            family = AF_INET
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = in_port_t(UInt16(port).bigEndian)
        } else if inet_pton(AF_INET6, literal.trimmingBrackets(), &v6.sin6_addr) == 1 {
            family = AF_INET6
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = in_port_t(UInt16(port).bigEndian)
        } else {
            throw HTTPServerError.invalidHost(host)
        }
        let fd: Int32
        do {
            fd = try SystemCall.run("socket") { socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        } catch let error as SystemCallError {
            throw HTTPServerError.system(error)
        }
        do {
            try SystemCall.setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
            if family == AF_INET {
                _ = try withUnsafePointer(to: &v4) { pointer in
                    try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                        try SystemCall.run("bind") { bind(fd, address, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                    }
                }
            } else {
                _ = try withUnsafePointer(to: &v6) { pointer in
                    try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                        try SystemCall.run("bind") { bind(fd, address, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
                    }
                }
            }
            _ = try SystemCall.run("listen") { listen(fd, backlog) }
            var bound = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            _ = try withUnsafeMutablePointer(to: &bound) { pointer in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                    try SystemCall.run("getsockname") { getsockname(fd, address, &length) }
                }
            }
            return (fd, boundPort(of: bound))
        } catch let error as SystemCallError {
            SystemCall.close(fd)
            throw HTTPServerError.system(error)
        }
    }

    /// `ip:port` (IPv6 in brackets).
    static func describe(_ storage: sockaddr_storage) -> String {
        var storage = storage
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let family = Int32(storage.ss_family)
        switch family {
        case AF_INET:
            return withUnsafePointer(to: &storage) { pointer in
                pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { v4 in
                    var address = v4.pointee.sin_addr
                    inet_ntop(AF_INET, &address, &text, socklen_t(text.count))
                    return Self.string(text) + ":" + String(UInt16(bigEndian: v4.pointee.sin_port))
                }
            }
        case AF_INET6:
            return withUnsafePointer(to: &storage) { pointer in
                pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { v6 in
                    var address = v6.pointee.sin6_addr
                    inet_ntop(AF_INET6, &address, &text, socklen_t(text.count))
                    return "[" + Self.string(text) + "]:" + String(UInt16(bigEndian: v6.pointee.sin6_port))
                }
            }
        default:
            return "unknown"
        }
    }

    /// The text of a NUL-terminated C string in `buffer`.
    private static func string(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func boundPort(of storage: sockaddr_storage) -> Int {
        var storage = storage
        let family = Int32(storage.ss_family)
        return withUnsafePointer(to: &storage) { pointer in
            if family == AF_INET6 {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
        }
    }
}

private extension String {
    func trimmingBrackets() -> String {
        hasPrefix("[") && hasSuffix("]") ? String(dropFirst().dropLast()) : self
    }
}
