// Coverage-guided fuzz target for the connection state machine (libFuzzer).
// Built by `scripts/fuzz-http SECONDS connection` with the machine's and the
// parser's source files. The input is read as a script of events (bytes
// arrive, a response starts or finishes writing, time passes, the peer
// closes, shutdown drains); after each event the machine's answer and state
// must agree, as the I/O class relies on them.

private struct Script {
    let bytes: UnsafeBufferPointer<UInt8>
    var position = 0
    mutating func next() -> UInt8? {
        guard position < bytes.count else { return nil }
        defer { position += 1 }
        return bytes[position]
    }
}

private func expect(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    var script = Script(bytes: UnsafeBufferPointer(start: data, count: size))
    var timeouts = HTTPServerConfiguration.Timeouts()
    timeouts.header = 1
    timeouts.body = 2
    timeouts.idle = 3
    timeouts.write = 4
    let settings = ConnectionStateMachine.Settings(
        parserLimits: HTTPRequestParser.Limits(maxHeaderBytes: 256, maxTargetBytes: 64, maxHeaderCount: 8, maxBodyBytes: 128),
        timeouts: timeouts, maxRequests: 3)
    var now = 0.0
    var machine = ConnectionStateMachine(settings: settings, now: now)
    var input: [UInt8] = []

    func apply(_ action: ConnectionStateMachine.Action) {
        switch action {
        case .none:
            break
        case .sendContinue:
            expect(machine.state == .receiving, "100-continue outside receiving: \(machine.state)")
        case .dispatch(let request, let consumed):
            expect(consumed > 0 && consumed <= input.count, "consumed \(consumed) of \(input.count)")
            expect(request.body.count <= settings.parserLimits.maxBodyBytes, "body over limit")
            expect(machine.state == .processing, "dispatch left state \(machine.state)")
            input.removeFirst(consumed)
        case .reject, .requestTimeout:
            expect(machine.state == .processing, "refusal left state \(machine.state)")
            input.removeAll()
        case .readNext:
            expect(machine.state == .idle, "readNext in \(machine.state)")
            if !input.isEmpty {
                let next = input.withUnsafeBufferPointer { machine.received($0, now: now) }
                apply(next)
            }
        case .linger:
            expect(machine.state == .lingering, "linger in \(machine.state)")
            input.removeAll()
        case .close, .cancelAndClose:
            expect(machine.state == .closed, "close in \(machine.state)")
        }
    }

    while let op = script.next() {
        switch op % 8 {
        case 0, 1, 2:
            let count = Int(script.next() ?? 0) % 48
            for _ in 0..<count {
                guard let byte = script.next() else { break }
                input.append(byte)
            }
            if machine.state == .lingering { input.removeAll() }
            let action = input.withUnsafeBufferPointer { machine.received($0, now: now) }
            apply(action)
        case 3:
            guard machine.state == .processing else { continue }
            _ = machine.responseStarted(now: now, handlerAsksClose: (script.next() ?? 0) & 1 == 1)
            expect(machine.state == .writing, "responseStarted left \(machine.state)")
        case 4:
            machine.wroteSome(now: now)
            apply(machine.writeCompleted(now: now, inputPending: !input.isEmpty))
        case 5:
            now += Double(script.next() ?? 0) * 0.05
            apply(machine.timerFired(now: now))
        case 6:
            apply(machine.peerClosed())
        default:
            apply(machine.drain())
        }
        switch machine.state {
        case .idle, .receiving, .writing, .lingering:
            expect(machine.deadline != nil, "no deadline in \(machine.state)")
        case .processing:
            expect(machine.deadline == nil, "deadline while processing")
        case .closed:
            return 0
        }
    }
    return 0
}
