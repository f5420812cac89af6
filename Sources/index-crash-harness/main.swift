// A child process for the Index kill -9 test.
//
//   index-crash-harness DATA_DIR FIRST_ID
//
// Opens (or creates) collection "crash" under DATA_DIR and writes forever:
// upserts of documents `k<FIRST_ID>`, `k<FIRST_ID+1>`, …, and every fifth
// step a delete of an earlier id. `ack <id>` and `del <id>` go to stdout
// only after the durable call has returned, so the parent knows exactly
// which writes were acknowledged when it sends SIGKILL; `deleting <id>`
// comes before a delete (after it, the id may or may not be there).
// Small snapshot intervals make kills land during snapshots as well.
import Foundation
import Index

let args = CommandLine.arguments
guard args.count == 3, let first = Int(args[2]) else {
    FileHandle.standardError.write(Data("usage: index-crash-harness DATA_DIR FIRST_ID\n".utf8))
    exit(2)
}
setvbuf(stdout, nil, _IOLBF, 0)
let dims = 16
do {
    let store = try CollectionStore(directory: URL(fileURLWithPath: args[1]), options: .init(snapshotEveryBytes: 48 << 10))
    let existing = try? store.collection("crash")
    let collection = try existing ?? store.create(name: "crash", dimensions: dims, modelVersion: "harness", settings: CollectionSettings(hnswThreshold: 300))
    print("ready \(collection.count)")
    var i = first
    while true {
        var v = [Float](repeating: 0.05, count: dims)
        v[i % dims] = Float(1 + i % 7)
        let batch = i % 3 == 0 ? 3 : 1  // some multi-document records
        let items = (0..<batch).map { j in
            (document: Document(id: "k\(i + j)", text: "text \(i + j)", metadata: ["n": .number(Double(i + j))]), vector: v)
        }
        try collection.upsert(items)
        for j in 0..<batch { print("ack k\(i + j)") }
        if i % 5 == 0 && i - 4 >= first {
            print("deleting k\(i - 4)")
            try collection.delete(ids: ["k\(i - 4)"])
            print("del k\(i - 4)")
        }
        i += batch
    }
} catch {
    FileHandle.standardError.write(Data("index-crash-harness: \(error)\n".utf8))
    exit(1)
}
