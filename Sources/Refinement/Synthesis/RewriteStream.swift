import Foundation
import Generator

// MARK: - Rewrites decoded with continuous batching

/// A backend that can decode rewrites step by step with a batch that is
/// refilled as soon as a rewrite ends (the local model). Chains then move
/// on at their own pace instead of waiting for the batch's slowest rewrite.
public protocol StreamingRewriteBackend: RewriteBackend {
    /// A stream with `places` rewrites decoded at once.
    func makeStream(places: Int) throws -> RewriteStream
}

/// Rewrites in flight, one per place. One caller at a time.
public protocol RewriteStream: AnyObject {
    /// Starts `request` in the free `place`; it is decoded from the next step.
    func start(place: Int, _ request: RewriteRequest) throws
    /// Decodes one token of every rewrite in flight (and runs the prompts
    /// started since the last step); returns the rewrites that ended, whose
    /// places are free again. Once `cancelled()` answers true every rewrite
    /// in flight ends and is returned.
    func step(cancelled: @escaping () -> Bool) -> [(place: Int, output: RewriteOutput)]
}

extension LocalRewriter: StreamingRewriteBackend {
    public func makeStream(places: Int) throws -> RewriteStream {
        // Room for the prompt around a sentence as long as a whole answer,
        // and the answer; the cache grows if a longer sentence comes.
        let context = prompt.prefix.count + prompt.suffix.count + 2 * max(64, settings.maxNewTokens) + 8
        return LocalRewriteStream(
            rewriter: self,
            stream: try GuidedStream(model: model, places: places, options: options, prefix: prefix, contextLength: context))
    }
}

/// The local model's stream: a `GuidedStream` with each rewrite's n-gram
/// blocker and hygiene stops, counting its work into the rewriter's.
final class LocalRewriteStream: RewriteStream {
    let rewriter: LocalRewriter
    let stream: GuidedStream
    private var steering: [RewriteSteering?]

    init(rewriter: LocalRewriter, stream: GuidedStream) {
        self.rewriter = rewriter
        self.stream = stream
        steering = Array(repeating: nil, count: stream.places)
    }

    func start(place: Int, _ request: RewriteRequest) throws {
        let steer = rewriter.steer(request)
        steering[place] = steer
        let prompt0 = stream.promptTokens, prefix0 = stream.reusedPrefixTokens, negative0 = stream.reusedNegativeTokens
        try stream.start(place: place, pair: rewriter.pair(request),
                         logits: steer.blocker == nil ? nil : { steer.logits($0, $1) },
                         stop: { steer.stop($0) })
        // Counted when queued: the prompt runs in the next step.
        rewriter.work.promptTokens += stream.promptTokens - prompt0
        rewriter.work.reusedPrefixTokens += stream.reusedPrefixTokens - prefix0
        rewriter.work.reusedNegativeTokens += stream.reusedNegativeTokens - negative0
    }

    func step(cancelled: @escaping () -> Bool) -> [(place: Int, output: RewriteOutput)] {
        let clock = ContinuousClock(), t0 = clock.now
        let done = stream.step(interrupt: cancelled)
        rewriter.work.seconds += (clock.now - t0).seconds
        return done.map { place, g in
            rewriter.work.generatedTokens += g.tokens.count
            let looped = steering[place]?.looped ?? false
            steering[place] = nil
            return (place, RewriteOutput(text: g.text, looped: looped))
        }
    }
}
