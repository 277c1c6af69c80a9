import Foundation
import NIOCore
import Testing
import TagihHTTP2

/// Makes a self-signed certificate for 127.0.0.1/localhost with the `openssl` CLI.
func makeSelfSignedCertificate() async throws -> (directory: URL, certificate: String, key: String) {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tagih-tls-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let certificate = directory.appendingPathComponent("cert.pem").path
    let key = directory.appendingPathComponent("key.pem").path
    let result = try await runTool(
        "openssl",
        [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", certificate, "-days", "1", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ]
    )
    #expect(result.status == 0, "\(result.stderr)")
    return (directory, certificate, key)
}

@Suite("Live server over TLS (ALPN h2)", .serialized)
struct LiveTLSTests {
    @Test func curlAndOwnClientOverTLS() async throws {
        let files = try await makeSelfSignedCertificate()
        defer { try? FileManager.default.removeItem(at: files.directory) }
        try await withTestServer(configure: {
            $0.tls = .init(certificatePath: files.certificate, privateKeyPath: files.key)
        }) { _, port in
            let curl = try await runTool(
                "curl",
                [
                    "-sS", "--http2", "--cacert", files.certificate, "-w", "|%{http_version}",
                    "https://localhost:\(port)/stream?n=5",
                ]
            )
            #expect(curl.status == 0, "\(curl.stderr)")
            let parts = curl.stdout.split(separator: "|")
            #expect(parts.last == "2")
            #expect(sequenceNumbers(in: String(parts.first ?? "")) == Array(1...5))

            let client = try await HTTP2Client.connect(
                host: "localhost",
                port: port,
                tls: .init(trustRootsPath: files.certificate)
            )
            let response = try await client.request(path: "/small")
            #expect(response.status == 200)
            #expect(String(buffer: try await response.body.collect(upTo: 100)) == "hello\n")
            await client.close()
        }
    }

    @Test func plaintextClientIsRejectedByTLSServer() async throws {
        let files = try await makeSelfSignedCertificate()
        defer { try? FileManager.default.removeItem(at: files.directory) }
        try await withTestServer(configure: {
            $0.tls = .init(certificatePath: files.certificate, privateKeyPath: files.key)
        }) { _, port in
            let curl = try await runTool("curl", ["-sS", "--http2-prior-knowledge", "http://127.0.0.1:\(port)/small"])
            #expect(curl.status != 0)
        }
    }

    /// The client says why it could not connect: an untrusted certificate, TLS to an h2c port, h2c to a TLS port.
    @Test func clientConnectFailuresSayWhy() async throws {
        let files = try await makeSelfSignedCertificate()
        defer { try? FileManager.default.removeItem(at: files.directory) }
        func failure(_ connect: () async throws -> HTTP2Client) async -> String {
            do {
                let client = try await connect()
                await client.close()
                return "connected"
            } catch {
                return "\(error)"
            }
        }
        try await withTestServer(configure: {
            $0.tls = .init(certificatePath: files.certificate, privateKeyPath: files.key)
        }) { _, port in
            let untrusted = await failure { try await HTTP2Client.connect(host: "localhost", port: port, tls: .init()) }
            #expect(untrusted.contains("connect_failed") && untrusted.contains("not trusted")
                        && untrusted.contains("CERTIFICATE_VERIFY_FAILED"), "\(untrusted)")
            let plain = await failure { try await HTTP2Client.connect(host: "127.0.0.1", port: port) }
            #expect(plain.contains("sent no HTTP/2 SETTINGS frame"), "\(plain)")
        }
        try await withTestServer { _, port in
            let tlsToPlain = await failure {
                try await HTTP2Client.connect(host: "127.0.0.1", port: port, tls: .init(verifyCertificate: false))
            }
            #expect(tlsToPlain.contains("did not answer in TLS"), "\(tlsToPlain)")
        }
    }

    @Test func missingCertificateFailsWithClearError() async throws {
        var configuration = HTTP2ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.tls = .init(certificatePath: "/nonexistent/cert.pem", privateKeyPath: "/nonexistent/key.pem")
        let server = HTTP2Server(configuration: configuration, responder: TestResponder(), logger: .init(label: "t"))
        await #expect(throws: HTTP2ServerError.self) { try await server.run() }
    }
}
