import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - HTTPConnection

/// One client connection: a socket, its dispatch sources, buffers and a
/// ``ConnectionStateMachine``. Everything here runs on `queue` (serial);
/// this class only moves bytes and carries out the machine's actions.
final class HTTPConnection: @unchecked Sendable {
    let id: Int
    let fd: Int32
    let queue: DispatchQueue
    let remoteAddress: String
    private let core: ServerCore
    private let transport: Transport
    private var machine: ConnectionStateMachine
    private var input = InputBuffer()
    private var output: [UInt8] = []
    private var outputOffset = 0
    /// A large response body, written from the handler's own buffer after
    /// `output` instead of being copied into it.
    private var body: [UInt8] = []
    private var bodyOffset = 0
    /// Bytes of the current response counted in the server's unsent budget
    /// (``ServerCore/reserveUnsent(_:)``); given back once written or closed.
    private var reservedUnsent = 0
    /// The streamed body being sent, if any.
    private var stream: StreamState?

    /// A response body pulled from an ``HTTPBodyStream``, one piece at a
    /// time: the next piece is asked for only once the previous one is
    /// written, so the connection never holds more than one.
    private struct StreamState {
        let source: any HTTPBodyStream
        /// Chunked (HTTP/1.1), or close-delimited (HTTP/1.0).
        let chunked: Bool
        /// Logs and reports the response when the stream ends.
        let ended: (@Sendable (Int) -> Void)?
        /// A pull is running on the stream queue.
        var pulling = false
        /// Body bytes of pieces fully written.
        var bytesSent = 0
        /// Body bytes of the piece being written.
        var pendingPayload = 0
    }

    private var readSource: DispatchSourceRead?
    private var writeSource: DispatchSourceWrite?
    private var timer: DispatchSourceTimer?
    private var readSuspended = false
    private var writeArmed = false
    private var readWaitsForWritable = false
    private var timerDeadline: Double?
    private var pendingCancels = 0

    private var handlerTask: Task<Void, Never>?
    private var currentRequest: (method: String, path: String, head: Bool, version: HTTPVersion, started: Double)?
    private var sequence = 0
    private var closed = false

    /// Input kept while a handler runs (pipelined requests); beyond it reading pauses.
    private static let maxBufferedWhileBusy = 64 * 1024
    /// Bytes read per loop turn into the buffer's tail.
    private static let readChunk = 16 * 1024
    /// Bodies up to this size are copied after the head (one write); larger
    /// ones are written from their own buffer (no second copy in memory).
    private static let copiedBodyBytes = 64 * 1024

    init(id: Int, fd: Int32, remoteAddress: String, queue: DispatchQueue, core: ServerCore, transport: Transport) {
        self.id = id
        self.fd = fd
        self.remoteAddress = remoteAddress
        self.queue = queue
        self.core = core
        self.transport = transport
        self.machine = ConnectionStateMachine(settings: core.machineSettings, now: Clock.now())
    }

    // MARK: - Start and events

    /// Creates the sources and starts reading. Call on `queue`.
    func start() {
        let read = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        read.setEventHandler { [unowned self] in self.readable() }
        read.setCancelHandler { [self] in self.sourceCancelled() }
        let write = DispatchSource.makeWriteSource(fileDescriptor: fd, queue: queue)
        write.setEventHandler { [unowned self] in self.writable() }
        write.setCancelHandler { [self] in self.sourceCancelled() }
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.setEventHandler { [unowned self] in self.timerFired() }
        timer.setCancelHandler { [self] in self.sourceCancelled() }
        readSource = read
        writeSource = write
        self.timer = timer
        read.resume()
        timer.resume()
        armTimer()
    }

    private func readable() {
        guard !closed, !readWaitsForWritable else { return }
        var received = false
        var total = 0
        while !closed {
            if !machine.wantsInput && input.count >= HTTPConnection.maxBufferedWhileBusy {
                pauseReading()
                break
            }
            var filled = false
            let result = input.readInto(minimumSpace: HTTPConnection.readChunk) { space -> (TransportResult, Int) in
                let result = transport.read(into: space)
                guard case .bytes(let count) = result else { return (result, 0) }
                filled = count == space.count
                return (result, count)
            }
            switch result {
            case .bytes(let count):
                received = true
                total += count
                // A short read drained the socket: skip the read that would
                // only say EAGAIN (one syscall less per request).
                if !filled && transport.shortReadMeansDrained { break }
                if total >= 1 << 20 {
                    // Fairness: let other connections on this queue run. TLS may
                    // hold decrypted bytes the socket won't signal, so come back.
                    queue.async { [self] in readable() }
                    break
                }
                continue
            case .wouldBlock(let wantsWrite):
                if wantsWrite {
                    // TLS needs to write before it can read more: wait for writability.
                    readWaitsForWritable = true
                    pauseReading()
                    armWrite()
                }
            case .eof, .failed:
                if machine.state == .lingering { return perform(.close) }
                return perform(machine.peerClosed())
            }
            break
        }
        if received && !closed { processInput() }
    }

    private func writable() {
        guard !closed else { return }
        disarmWrite()
        if readWaitsForWritable {
            readWaitsForWritable = false
            resumeReading()
            readable()
        }
        flush()
    }

    private func timerFired() {
        guard !closed else { return }
        timerDeadline = nil
        perform(machine.timerFired(now: Clock.now()))
        armTimer()
    }

    /// Graceful shutdown reached this connection.
    func drain() {
        guard !closed else { return }
        perform(machine.drain())
        armTimer()
    }

    /// Shutdown deadline passed: close whatever state we are in.
    func forceClose() {
        perform(.cancelAndClose)
    }

    // MARK: - Input

    private func processInput() {
        if machine.state == .lingering {
            input.removeAll()
            return
        }
        let action = input.withBytes { bytes in machine.received(bytes, now: Clock.now()) }
        perform(action)
        armTimer()
    }

    private func perform(_ action: ConnectionStateMachine.Action) {
        switch action {
        case .none:
            break
        case .sendContinue:
            // The head may already settle the answer (a missing key): then
            // say so now, instead of inviting the client to send its body.
            if let head = machine.pendingHead,
               let refusal = core.checkBeforeBody(head, remoteAddress: remoteAddress) {
                machine.refuseBeforeBody()
                input.removeAll()
                respondWithError(refusal, method: head.method, path: head.target)
                return
            }
            output.append(contentsOf: "HTTP/1.1 100 Continue\r\n\r\n".utf8)
            flush()
        case .dispatch(let parsed, let consumed):
            input.consume(consumed)
            dispatch(parsed)
        case .reject(let error):
            input.removeAll()
            respondWithError(HTTPServer.errorResponse(for: error))
        case .requestTimeout:
            input.removeAll()
            respondWithError(HTTPResponse.error(
                status: 408, code: "request_timeout",
                message: "The request took too long to arrive; send the whole request promptly."))
        case .readNext:
            if resumeReading() {
                // TLS may hold decrypted bytes the socket won't signal again.
                queue.async { [self] in readable() }
            }
            if !input.isEmpty { processInput() }
        case .linger:
            transport.shutdownOutput()
            input.removeAll()
            resumeReading()
            armTimer()
        case .close:
            close()
        case .cancelAndClose:
            handlerTask?.cancel()
            close()
        }
    }

    // MARK: - Requests and responses

    private func dispatch(_ parsed: HTTPParsedRequest) {
        sequence += 1
        let started = Clock.now()
        var request = HTTPRequest(method: parsed.method, target: parsed.target, version: parsed.version,
                                  headers: parsed.headers, body: parsed.body, remoteAddress: remoteAddress)
        if let incoming = parsed.headers["X-Request-Id"], RequestIdentifier.isSane(incoming) {
            request.requestId = incoming
        } else {
            request.requestId = RequestIdentifier.generate(prefix: core.idPrefix, connection: id, sequence: sequence)
        }
        currentRequest = (parsed.method, request.path, parsed.method == "HEAD", parsed.version, started)
        if let encoded = core.respondImmediately(to: request, started: started) {
            return responseReady(encoded)
        }
        let core = self.core
        core.handlerStarted()
        handlerTask = Task.detached { [self] in
            let encoded = await core.respond(to: request, started: started)
            core.handlerFinished()
            // Back to the connection's queue (async: blocking a cooperative
            // thread on a busy I/O queue measured slower, and starves tasks).
            self.queue.async { self.responseReady(encoded) }
        }
    }

    private func responseReady(_ encoded: EncodedResponse) {
        handlerTask = nil
        guard !closed, let current = currentRequest else {
            core.releaseUnsent(encoded.reservedUnsent)
            encoded.stream?.close()
            encoded.streamEnded?(0)
            return
        }
        reservedUnsent += encoded.reservedUnsent
        // HTTP/1.0 has no chunked coding (RFC 9112 §7): a streamed body of
        // unknown length ends where the connection does.
        let chunked = current.version != .http1_0
        let closeDelimited = encoded.stream != nil && !chunked
        let close = machine.responseStarted(now: Clock.now(), handlerAsksClose: encoded.handlerAsksClose || closeDelimited)
        output.append(contentsOf: encoded.head)
        if encoded.streamed && chunked {
            output.append(contentsOf: "Transfer-Encoding: chunked\r\n".utf8)
        }
        if close {
            output.append(contentsOf: "Connection: close\r\n".utf8)
        } else if current.version == .http1_0 {
            output.append(contentsOf: "Connection: keep-alive\r\n".utf8)
        }
        output.append(contentsOf: "\r\n".utf8)
        if encoded.body.count <= HTTPConnection.copiedBodyBytes {
            output.append(contentsOf: encoded.body)
        } else {
            body = encoded.body
            bodyOffset = 0
        }
        if let source = encoded.stream {
            stream = StreamState(source: source, chunked: chunked, ended: encoded.streamEnded)
        }
        armTimer()
        flush()
    }

    // MARK: - Streamed bodies

    /// Asks the stream for its next piece, off the I/O queue.
    private func pullNextPiece() {
        guard let current = stream, !current.pulling else { return }
        stream?.pulling = true
        let source = current.source
        let limit = core.streamPieceBytes
        // Counted with the handlers, so shutdown waits for a pull in flight.
        core.handlerStarted()
        core.streamQueue.async { [self] in
            let result = Result { try source.next(limit: limit) }
            queue.async { self.pieceArrived(result) }
        }
    }

    private func pieceArrived(_ result: Result<[UInt8]?, any Error>) {
        core.handlerFinished()
        stream?.pulling = false
        guard !closed, let current = stream else {
            // The connection closed while the pull ran; close() left the
            // stream to be ended here, after its last pull returned.
            endStream()
            return
        }
        switch result {
        case .success(let piece?) where piece.isEmpty:
            pullNextPiece()
        case .success(let piece?):
            let before = output.count
            if current.chunked {
                ResponseEncoder.appendChunk(piece, to: &output)
            } else {
                output.append(contentsOf: piece)
            }
            let framed = output.count - before
            core.countUnsent(framed)
            reservedUnsent += framed
            stream?.pendingPayload = piece.count
            machine.wroteSome(now: Clock.now())
            flush()
        case .success(nil):
            if current.chunked { output.append(contentsOf: ResponseEncoder.lastChunk) }
            endStream()
            flush()
        case .failure:
            // Headers are gone: the only way to say "incomplete" is to stop
            // without the last chunk.
            endStream()
            close()
        }
    }

    /// Closes the stream's source and logs the response, once.
    private func endStream() {
        guard let current = stream else { return }
        stream = nil
        current.source.close()
        current.ended?(current.bytesSent)
    }

    /// A response the server makes itself (400, 408, 413, a 401 before
    /// `100 Continue`, …); always closes.
    private func respondWithError(_ response: HTTPResponse, method: String = "-", path: String = "-") {
        sequence += 1
        let requestId = RequestIdentifier.generate(prefix: core.idPrefix, connection: id, sequence: sequence)
        let encoded = core.finish(response, requestId: requestId, method: method, path: path, route: nil,
                                  headRequest: false, acceptsGzip: false, started: Clock.now(),
                                  requestBytes: 0, remote: remoteAddress, forwardedFor: nil)
        currentRequest = (method, path, false, .http1_1, Clock.now())
        responseReady(encoded)
    }

    // MARK: - Output

    private func flush() {
        guard write(&output, from: &outputOffset), write(&body, from: &bodyOffset) else { return }
        output.removeAll(keepingCapacity: output.capacity <= 256 * 1024)
        outputOffset = 0
        body = []
        bodyOffset = 0
        if reservedUnsent > 0 {
            core.releaseUnsent(reservedUnsent)
            reservedUnsent = 0
        }
        if machine.state == .writing {
            if stream != nil {
                stream?.bytesSent += stream?.pendingPayload ?? 0
                stream?.pendingPayload = 0
                pullNextPiece()
                return
            }
            currentRequest = nil
            perform(machine.writeCompleted(now: Clock.now(), inputPending: !input.isEmpty))
            armTimer()
        }
    }

    /// Writes `buffer` from `offset` on; answers whether all of it went out
    /// (false: waiting for writability, or the connection closed).
    private func write(_ buffer: inout [UInt8], from offset: inout Int) -> Bool {
        while offset < buffer.count && !closed {
            let start = offset
            let result = buffer.withUnsafeBytes { raw in
                transport.write(UnsafeRawBufferPointer(rebasing: raw[start...]))
            }
            switch result {
            case .bytes(let count):
                offset += count
                machine.wroteSome(now: Clock.now())
            case .wouldBlock:
                armWrite()
                return false
            case .eof, .failed:
                perform(machine.peerClosed())
                return false
            }
        }
        return !closed
    }

    // MARK: - Sources

    private func pauseReading() {
        guard !readSuspended, let readSource else { return }
        readSuspended = true
        readSource.suspend()
    }

    /// Resumes a paused read source; answers whether it was paused.
    @discardableResult
    private func resumeReading() -> Bool {
        guard readSuspended, let readSource else { return false }
        readSuspended = false
        readSource.resume()
        return true
    }

    private func armWrite() {
        guard !writeArmed, let writeSource else { return }
        writeArmed = true
        writeSource.resume()
    }

    private func disarmWrite() {
        guard writeArmed, let writeSource else { return }
        writeArmed = false
        writeSource.suspend()
    }

    /// Makes sure the timer fires no later than the machine's deadline.
    /// Rescheduling a dispatch timer wakes dispatch's manager thread, so it
    /// is done only when the deadline moves earlier; a timer that fires
    /// before a (later) deadline just re-arms itself in ``timerFired()``.
    private func armTimer() {
        guard !closed, let timer, let deadline = machine.deadline else { return }
        if let scheduled = timerDeadline, scheduled <= deadline { return }
        timerDeadline = deadline
        // Clamped: a huge configured timeout must not overflow the conversion.
        let delay = min(max(0, deadline - Clock.now()), 1e6)
        timer.schedule(deadline: .now() + .nanoseconds(Int(delay * 1e9)), leeway: .milliseconds(10))
    }

    // MARK: - Closing

    /// Cancels the sources; the socket is closed when all three have
    /// acknowledged (closing earlier would race with dispatch's epoll).
    private func close() {
        guard !closed else { return }
        closed = true
        handlerTask?.cancel()
        handlerTask = nil
        // A pull in flight ends the stream when it returns (a source is
        // never closed under its own read).
        if let current = stream, !current.pulling { endStream() }
        guard let readSource, let writeSource, let timer else {
            finishClose()
            return
        }
        pendingCancels = 3
        readSource.cancel()
        if readSuspended { readSuspended = false; readSource.resume() }
        writeSource.cancel()
        if !writeArmed { writeArmed = true; writeSource.resume() }
        timer.cancel()
    }

    private func sourceCancelled() {
        pendingCancels -= 1
        if pendingCancels == 0 { finishClose() }
    }

    private func finishClose() {
        core.releaseUnsent(reservedUnsent)
        reservedUnsent = 0
        output = []
        body = []
        readSource = nil
        writeSource = nil
        timer = nil
        transport.release()
        SystemCall.close(fd)
        core.connectionClosed(self)
    }
}

// MARK: - Clock

/// Monotonic seconds.
enum Clock {
    @inline(__always)
    static func now() -> Double {
        Double(DispatchTime.now().uptimeNanoseconds) / 1e9
    }
}
