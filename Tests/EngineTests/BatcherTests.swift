import Encoder
import Engine
import Foundation
import Synchronization
import Tokenization
import XCTest

/// The dynamic batcher on its own: grouping, order, cancellation, bounds.
final class BatcherTests: XCTestCase {
    func model() throws -> BertModel { try XCTUnwrap(EngineFixtures.model, "run `make models`") }

    func testRowsComeBackInInputOrderAcrossPasses() async throws {
        let model = try model()
        var options = Batcher.Options()
        options.maxBatchTokens = 40  // forces several passes
        let batcher = Batcher(options: options)
        batcher.start()
        defer { batcher.stop() }
        let texts = (0..<12).map { "sentence \($0) " + String(repeating: "word ", count: $0) }
        let (rows, timing) = try await batcher.submit(texts.map(model.encode), model: model)
        let direct = model.embed(texts.map(model.encode), normalize: false)
        XCTAssertEqual(rows.rows, 12)
        for i in 0..<12 {
            XCTAssertLessThan(zip(rows.row(i), direct.row(i)).map { abs($0 - $1) }.max()!, 1e-5, "row \(i)")
        }
        XCTAssertGreaterThanOrEqual(timing.inferenceSeconds, 0)
    }

    func testCancelledWorkIsDroppedNotComputed() async throws {
        let model = try model()
        var options = Batcher.Options()
        options.maxBatchTokens = 64
        let batcher = Batcher(options: options)
        let computed = Counter()
        batcher.onBatch = { computed.add($0.inputs) }
        batcher.start()
        defer { batcher.stop() }
        let long = (0..<40).map { "a long sentence number \($0) with several words in it" }.map(model.encode)
        // A first request keeps the compute thread busy; the second is
        // cancelled while it waits, so its 40 inputs must never be computed.
        async let first = batcher.submit(long, model: model)
        try await Task.sleep(nanoseconds: 20_000_000)
        let second = Task { try await batcher.submit(long, model: model) }
        try await Task.sleep(nanoseconds: 5_000_000)
        second.cancel()
        do {
            _ = try await second.value
            XCTFail("a cancelled request must not complete")
        } catch is CancellationError {}
        _ = try await first
        try await Task.sleep(nanoseconds: 200_000_000)
        XCTAssertLessThan(computed.value, 80, "the cancelled request's inputs were computed anyway")
        XCTAssertGreaterThanOrEqual(computed.value, 40)
    }

    func testFullQueueRefusesAndEmptyInputIsFree() async throws {
        let model = try model()
        var options = Batcher.Options()
        options.maxQueuedInputs = 10
        options.maxBatchTokens = 16
        let batcher = Batcher(options: options)
        batcher.start()
        defer { batcher.stop() }
        let (empty, _) = try await batcher.submit([], model: model)
        XCTAssertEqual(empty.rows, 0)
        let many = (0..<10).map { "input \($0) with a few words" }.map(model.encode)
        async let a = batcher.submit(many, model: model)
        try await Task.sleep(nanoseconds: 2_000_000)
        do {
            _ = try await batcher.submit(many, model: model)
            // Accepted only if the first had already drained; then the queue was empty.
        } catch Batcher.BatcherError.full(let queued) {
            XCTAssertGreaterThan(queued, 0)
        }
        _ = try await a
    }

    func testStopFailsQueuedWork() async throws {
        let model = try model()
        let batcher = Batcher()
        // Never started: the work waits, then stop() answers it.
        let t = Task { try await batcher.submit([model.encode("x")], model: model) }
        try await Task.sleep(nanoseconds: 20_000_000)
        batcher.stop()
        do {
            _ = try await t.value
            XCTFail("stopped batcher must fail queued work")
        } catch Batcher.BatcherError.stopped {}
    }
}

/// A thread-safe counter for callbacks.
final class Counter: Sendable {
    private let n = Mutex(0)
    func add(_ k: Int) { n.withLock { $0 += k } }
    var value: Int { n.withLock { $0 } }
}
