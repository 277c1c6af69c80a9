import Foundation
import Testing
import TagihHTTP2

@Suite("Live server with curl, nghttp and h2load")
struct LiveToolTests {
    @Test func curlSmallGET() async throws {
        try await withTestServer { _, port in
            let result = try await runTool("curl", ["-sS", "--http2-prior-knowledge", "http://127.0.0.1:\(port)/small"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == "hello\n")
        }
    }
}
