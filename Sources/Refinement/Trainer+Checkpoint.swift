import Encoder
import Foundation
import Storage

// MARK: - Checkpoints
//
// A checkpoint is a safetensors file with four flat F32 tensors —
// "parameters", "adam.m", "adam.v" (the optimiser's moments) and "best"
// (the best evaluated parameters) — and, in its metadata under "state",
// the JSON of `CheckpointState`: steps done, the curve, the best step and
// score, and the settings. The list order and every shuffle derive from
// (seed, step), so a run resumed from step k takes exactly the steps an
// uninterrupted run would have: same weights, bit for bit.

/// The non-tensor part of a checkpoint.
struct CheckpointState: Codable {
    var step: Int
    var totalSteps: Int
    var bestStep: Int
    var bestScore: Double?
    var devBefore: Double?
    var curve: [TrainingCurvePoint]
    var options: TrainingOptions
    var lists: Int
}

extension Trainer {
    /// Writes the run's state to `url`, replacing an older checkpoint
    /// atomically and durably (`Storage.AtomicFile`).
    public func saveCheckpoint(to url: URL) throws {
        guard !cutShort else {
            throw TrainingError.io(path: url.path, reason: "the run stopped inside the evaluation of step \(step), a state an uninterrupted run never saves; the last checkpoint stands")
        }
        let state = CheckpointState(step: step, totalSteps: totalSteps, bestStep: bestStep, bestScore: bestScore,
                                    devBefore: devBefore, curve: curve, options: options, lists: lists.count)
        let json = String(decoding: try JSONEncoder().encode(state), as: UTF8.self)
        let n = model.layout.count
        let bytes = try SafeTensorsFile.encode([
            ("parameters", [n], model.parameters), ("adam.m", [n], optimizer.m), ("adam.v", [n], optimizer.v), ("best", [n], best),
        ], metadata: ["format": "ranksmith-checkpoint", "state": json])
        do { try AtomicFile.write(bytes, to: url.path) } catch {
            throw TrainingError.io(path: url.path, reason: error.message)
        }
    }

    /// Restores a checkpoint written by `saveCheckpoint` for the same
    /// model, lists and settings; the next `run` continues after its step.
    public func restore(from url: URL) throws {
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(url: url) } catch { throw TrainingError.io(path: url.path, reason: "\(error)") }
        guard file.metadata["format"] == "ranksmith-checkpoint", let json = file.metadata["state"],
              let state = try? JSONDecoder().decode(CheckpointState.self, from: Data(json.utf8)) else {
            throw TrainingError.io(path: url.path, reason: "not a Ranksmith training checkpoint")
        }
        guard state.options == options, state.lists == lists.count, state.totalSteps == totalSteps else {
            throw TrainingError.io(path: url.path, reason: "the checkpoint was made with other settings or lists; start a new run instead")
        }
        let n = model.layout.count
        for (name, buffer) in [("parameters", model.parameters), ("adam.m", optimizer.m), ("adam.v", optimizer.v), ("best", best)] {
            let values: [Float]
            do { values = try file.floats(name, shape: [n]) } catch {
                throw TrainingError.io(path: url.path, reason: "checkpoint does not fit this model: \(error)")
            }
            values.withUnsafeBufferPointer { buffer.pointer.update(from: $0.baseAddress!, count: n) }
        }
        step = state.step
        curve = state.curve
        bestStep = state.bestStep
        bestScore = state.bestScore
        devBefore = state.devBefore
    }
}
