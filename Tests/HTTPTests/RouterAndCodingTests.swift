import HTTP
import XCTest

/// Router matching, gzip helpers and the error shape, without sockets.
final class RouterAndCodingTests: XCTestCase {
    private func router() -> Router {
        var router = Router()
        router.get("/health") { _ in .text("health") }
        router.get("/collections/{name}") { r in .text("get \(r.pathParameters["name"]!)") }
        router.put("/collections/{name}") { r in .text("put \(r.pathParameters["name"]!)") }
        router.get("/collections/{name}/documents/{id}") { r in .text("\(r.pathParameters["name"]!)/\(r.pathParameters["id"]!)") }
        router.get("/collections/special") { _ in .text("literal") }
        router.add("HEAD", "/only-head") { _ in .text("head") }
        router.addImmediate("GET", "/fast/{x}") { r in .text("fast \(r.pathParameters["x"]!)") }
        return router
    }

    private func run(_ method: String, _ target: String) async -> HTTPResponse {
        await router().handle(HTTPRequest(method: method, target: target))
    }

    func testMatchesLiteralsAndParameters() async {
        do { let r = await run("GET", "/health"); XCTAssertEqual(r.body, Array("health".utf8)) }
        do { let r = await run("GET", "/collections/books"); XCTAssertEqual(r.body, Array("get books".utf8)) }
        do { let r = await run("PUT", "/collections/books"); XCTAssertEqual(r.body, Array("put books".utf8)) }
        do { let r = await run("GET", "/collections/a%20b/documents/x%2Fy"); XCTAssertEqual(r.body, Array("a b/x/y".utf8)) }
        do { let r = await run("GET", "/collections/special"); XCTAssertEqual(r.body, Array("literal".utf8)) }
    }

    func testNotFoundAndMethodNotAllowed() async {
        do { let r = await run("GET", "/nope"); XCTAssertEqual(r.status, 404) }
        do { let r = await run("GET", "/collections"); XCTAssertEqual(r.status, 404) }
        do { let r = await run("GET", "/collections/a/"); XCTAssertEqual(r.status, 404) }
        do { let r = await run("GET", "/health/"); XCTAssertEqual(r.status, 404) }
        let wrong = await run("DELETE", "/collections/books")
        XCTAssertEqual(wrong.status, 405)
        XCTAssertEqual(wrong.headers["Allow"], "GET, HEAD, PUT")
        do { let r = await run("POST", "/health"); XCTAssertEqual(r.headers["Allow"], "GET, HEAD") }
    }

    func testImmediateHandlersAlsoWorkThroughHandle() async {
        let response = await run("GET", "/fast/1")
        XCTAssertEqual(response.body, Array("fast 1".utf8))
        let head = await run("HEAD", "/fast/1")
        XCTAssertEqual(head.status, 200)
    }

    func testHeadFallsBackToGet() async {
        do { let r = await run("HEAD", "/health"); XCTAssertEqual(r.status, 200) }
        do { let r = await run("HEAD", "/only-head"); XCTAssertEqual(r.body, Array("head".utf8)) }
        do { let r = await run("GET", "/only-head"); XCTAssertEqual(r.status, 405) }
    }

    func testMatchReportsPattern() {
        guard case .found(_, let parameters, let pattern) = router().match(method: "GET", path: "/collections/c/documents/7") else {
            return XCTFail()
        }
        XCTAssertEqual(pattern, "/collections/{name}/documents/{id}")
        XCTAssertEqual(parameters, ["name": "c", "id": "7"])
    }

    func testQueryDecoding() {
        let request = HTTPRequest(method: "GET", target: "/s?q=a+b%21&empty=&flag&q=second&bad=%zz")
        XCTAssertEqual(request.path, "/s")
        XCTAssertEqual(request.query["q"], "a b!")
        XCTAssertEqual(request.query["empty"], "")
        XCTAssertEqual(request.query["flag"], "")
        XCTAssertEqual(request.query["bad"], "%zz")
        XCTAssertEqual(request.queryItems.filter { $0.name == "q" }.map(\.value), ["a b!", "second"])
    }

    func testErrorShapeEscapes() throws {
        let response = HTTPResponse.error(status: 422, code: "invalid_field", message: "quote \" and \\ and\nnewline")
        let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: [String: String]]
        XCTAssertEqual(object?["error"]?["message"], "quote \" and \\ and\nnewline")
        XCTAssertEqual(response.headers["content-type"], "application/json")
    }

    func testHeadersCaseInsensitive() {
        var headers: HTTPHeaders = ["Content-Type": "a", "X-A": "1"]
        headers.add(name: "x-a", value: "2")
        XCTAssertEqual(headers.values(for: "X-A"), ["1", "2"])
        headers.replaceOrAdd(name: "X-a", value: "3")
        XCTAssertEqual(headers.values(for: "x-A"), ["3"])
        headers.remove(name: "CONTENT-TYPE")
        XCTAssertNil(headers["content-type"])
        XCTAssertFalse(HTTPHeaders.equalCaseInsensitive("a-b", "a_b"))
        XCTAssertFalse(HTTPHeaders.equalCaseInsensitive("[", "{"))
    }

    // MARK: - gzip

    func testGzipRoundTripAndLimits() {
        let text = Array(String(repeating: "ranksmith gzip ", count: 1000).utf8)
        let compressed = try! XCTUnwrap(Gzip.compress(text))
        XCTAssertLessThan(compressed.count, text.count / 10)
        XCTAssertEqual(compressed.prefix(2), [0x1F, 0x8B])
        XCTAssertEqual(Gzip.decompress(compressed, limit: text.count), .success(text))
        XCTAssertEqual(Gzip.decompress(compressed, limit: text.count - 1), .failure(.tooLarge))
        XCTAssertEqual(Gzip.decompress(Array(compressed.prefix(compressed.count / 2)), limit: 1 << 20), .failure(.corrupt))
        XCTAssertEqual(Gzip.decompress(Array("not gzip".utf8), limit: 1 << 20), .failure(.corrupt))
    }

    func testAcceptEncodingQualities() {
        XCTAssertTrue(Gzip.accepts("gzip"))
        XCTAssertTrue(Gzip.accepts("deflate, gzip;q=0.5"))
        XCTAssertTrue(Gzip.accepts("GZIP"))
        XCTAssertTrue(Gzip.accepts("*"))
        XCTAssertTrue(Gzip.accepts("br;q=1.0, *;q=0.1"))
        XCTAssertFalse(Gzip.accepts("gzip;q=0"))
        XCTAssertFalse(Gzip.accepts("gzip; q=0.000"))
        XCTAssertFalse(Gzip.accepts("*;q=0.5, gzip;q=0"))
        XCTAssertFalse(Gzip.accepts("identity"))
        XCTAssertFalse(Gzip.accepts("br, deflate"))
        XCTAssertFalse(Gzip.accepts(""))
    }
}
