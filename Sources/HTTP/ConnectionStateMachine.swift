// MARK: - ConnectionStateMachine

/// The life of one connection as a value: the I/O class reports what
/// happened (bytes arrived, a response was written, a timer fired, the peer
/// closed) and the machine answers with one ``Action``. It owns the parser
/// and every timeout decision, and does no I/O itself, so it is tested
/// without sockets.
struct ConnectionStateMachine {
    /// Where the connection stands.
    enum State: Equatable {
        /// Between requests; nothing of the next one has arrived.
        case idle
        /// Part of a request has arrived.
        case receiving
        /// A handler is working on the request.
        case processing
        /// A response is being written.
        case writing
        /// After an error response: output is shut, input is read and
        /// dropped until EOF or the linger deadline, so the client sees the
        /// response instead of a reset.
        case lingering
        /// Done; the connection is closing.
        case closed
    }

    /// What the I/O class should do next.
    enum Action {
        /// Nothing; keep waiting for events.
        case none
        /// Write `HTTP/1.1 100 Continue` and keep reading.
        case sendContinue
        /// Drop `consumed` input bytes and run the handler for `request`.
        case dispatch(HTTPParsedRequest, consumed: Int)
        /// Answer `error` (status per error) and close after writing.
        case reject(HTTPParseError)
        /// The client was too slow sending the request: answer 408 and close.
        case requestTimeout
        /// Feed buffered input again (a response finished; a pipelined
        /// request may already be waiting).
        case readNext
        /// Shut the output side and drop input until EOF (see ``State/lingering``).
        case linger
        /// Close the socket now.
        case close
        /// Cancel the running handler, then close.
        case cancelAndClose
    }

    /// Limits and timeouts the machine applies.
    struct Settings {
        var parserLimits: HTTPRequestParser.Limits
        var timeouts: HTTPServerConfiguration.Timeouts
        var maxRequests: Int
        /// Longest lingering close, seconds.
        var linger: Double = 2
    }

    let settings: Settings
    private(set) var state = State.idle
    /// When the current timeout fires (monotonic seconds), or nil.
    private(set) var deadline: Double?
    private var parser: HTTPRequestParser
    private var requestsStarted = 0
    private var closeAfterResponse = false
    private var lingerAfterResponse = false
    private var continueSent = false
    private var draining = false

    /// A machine for a connection accepted at `now`; the first request must
    /// arrive within the header timeout.
    init(settings: Settings, now: Double) {
        self.settings = settings
        self.parser = HTTPRequestParser(limits: settings.parserLimits)
        self.deadline = now + settings.timeouts.header
    }

    /// The head of the request being received once its headers are
    /// complete and its body is not (the server checks it before it sends
    /// `100 Continue`).
    var pendingHead: HTTPParsedRequest? { state == .receiving ? parser.pendingHead : nil }

    /// Whether the machine wants input right now (else the I/O class may
    /// stop reading once it has buffered enough).
    var wantsInput: Bool { state == .idle || state == .receiving || state == .lingering }

    // MARK: - Events

    /// All buffered, unconsumed input (from the first byte of the current request).
    mutating func received(_ input: UnsafeBufferPointer<UInt8>, now: Double) -> Action {
        switch state {
        case .idle, .receiving:
            break
        case .processing, .writing, .lingering, .closed:
            return .none
        }
        guard !input.isEmpty else { return .none }
        if state == .idle {
            state = .receiving
            deadline = now + settings.timeouts.header
        }
        let hadHead = parser.pendingHead != nil
        switch parser.parse(input) {
        case .incomplete:
            if !hadHead, let head = parser.pendingHead {
                deadline = now + settings.timeouts.body
                if head.expectsContinue && !continueSent {
                    continueSent = true
                    return .sendContinue
                }
            }
            return .none
        case .complete(let request, let consumed):
            requestsStarted += 1
            let limitReached = settings.maxRequests > 0 && requestsStarted >= settings.maxRequests
            closeAfterResponse = !request.keepAlive || limitReached || draining
            // Asked for 100-continue but we never sent it (the body came
            // anyway): fine, the client stops waiting.
            continueSent = false
            state = .processing
            deadline = nil
            return .dispatch(request, consumed: consumed)
        case .invalid(let error):
            return failRequest(now: now, action: .reject(error))
        }
    }

    /// The server answers the request being received from its head alone
    /// (a 401 instead of `100 Continue`): the body is not read; after the
    /// response the connection lingers and closes, like after a refusal.
    mutating func refuseBeforeBody() {
        guard state == .receiving else { return }
        _ = failRequest(now: 0, action: .none)
    }

    /// The handler's response is ready to be written. Answers whether the
    /// connection closes after it.
    mutating func responseStarted(now: Double, handlerAsksClose: Bool) -> Bool {
        guard state == .processing else { return true }
        if handlerAsksClose { closeAfterResponse = true }
        state = .writing
        deadline = now + settings.timeouts.write
        return closeAfterResponse
    }

    /// Some response bytes went out; the write timeout restarts.
    mutating func wroteSome(now: Double) {
        if state == .writing { deadline = now + settings.timeouts.write }
    }

    /// The whole response is written. `inputPending` says whether bytes of
    /// a further request are buffered (closing on them could reset the
    /// connection before the client reads the response, so it lingers).
    mutating func writeCompleted(now: Double, inputPending: Bool = false) -> Action {
        guard state == .writing else { return .none }
        if lingerAfterResponse || (closeAfterResponse && inputPending) {
            state = .lingering
            deadline = now + min(settings.linger, settings.timeouts.write)
            return .linger
        }
        if closeAfterResponse {
            state = .closed
            deadline = nil
            return .close
        }
        state = .idle
        deadline = now + settings.timeouts.idle
        return .readNext
    }

    /// The peer closed its side (read returned 0) or reset the connection.
    mutating func peerClosed() -> Action {
        let wasProcessing = state == .processing
        state = .closed
        deadline = nil
        return wasProcessing ? .cancelAndClose : .close
    }

    /// The timer fired at `now`.
    mutating func timerFired(now: Double) -> Action {
        guard let deadline, now >= deadline else { return .none }
        switch state {
        case .idle, .writing, .lingering:
            state = .closed
            self.deadline = nil
            return .close
        case .receiving:
            return failRequest(now: now, action: .requestTimeout)
        case .processing, .closed:
            return .none
        }
    }

    /// Graceful shutdown began: idle connections close now, the rest close
    /// after their current response.
    mutating func drain() -> Action {
        draining = true
        closeAfterResponse = true
        if state == .idle {
            state = .closed
            deadline = nil
            return .close
        }
        return .none
    }

    // MARK: - Helpers

    /// The request can't be served: respond (by `action`), then linger and close.
    private mutating func failRequest(now: Double, action: Action) -> Action {
        state = .processing
        closeAfterResponse = true
        lingerAfterResponse = true
        deadline = nil
        return action
    }
}
