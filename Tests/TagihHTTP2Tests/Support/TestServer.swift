import Foundation
import Logging
import NIOCore
import TagihHTTP2

/// Runs a real `HTTP2Server` on 127.0.0.1 with an ephemeral port for the duration of `body`,
/// then shuts it down gracefully and waits for `run()` to return.
func withTestServer<T: Sendable>(
    configure: (inout HTTP2ServerConfiguration) -> Void = { _ in },
    _ body: (HTTP2Server, Int) async throws -> T
) async throws -> T {
    var configuration = HTTP2ServerConfiguration(host: "127.0.0.1", port: 0)
    configuration.shutdownGracePeriod = .seconds(2)
    configure(&configuration)
    var logger = Logger(label: "test.http2")
    logger.logLevel = .warning
    let server = HTTP2Server(configuration: configuration, responder: TestResponder(), logger: logger)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await server.run() }
        let port = try await server.boundAddress().port!
        do {
            let result = try await body(server, port)
            server.shutdownGracefully()
            try await group.waitForAll()
            return result
        } catch {
            server.shutdownGracefully()
            try? await group.waitForAll()
            throw error
        }
    }
}

/// The result of running an external tool.
struct ToolResult: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs `tool` (found on PATH) with `arguments`, killing it after `timeout` seconds.
/// The blocking waits run on a Dispatch queue, never on the Swift concurrency pool.
func runTool(_ tool: String, _ arguments: [String], timeout: Double = 60) async throws -> ToolResult {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [tool] + arguments
            let out = Pipe()
            let err = Pipe()
            process.standardOutput = out
            process.standardError = err
            do {
                try process.run()
            } catch {
                continuation.resume(throwing: error)
                return
            }
            let timer = DispatchSource.makeTimerSource()
            timer.schedule(deadline: .now() + timeout)
            timer.setEventHandler { if process.isRunning { process.terminate() } }
            timer.resume()
            let errData = DataBox()
            let group = DispatchGroup()
            group.enter()
            DispatchQueue.global().async {
                errData.data = err.fileHandleForReading.readDataToEndOfFile()
                group.leave()
            }
            let outData = out.fileHandleForReading.readDataToEndOfFile()
            group.wait()
            process.waitUntilExit()
            timer.cancel()
            continuation.resume(
                returning: ToolResult(
                    status: process.terminationStatus,
                    stdout: String(decoding: outData, as: UTF8.self),
                    stderr: String(decoding: errData.data, as: UTF8.self)
                )
            )
        }
    }
}

/// The directory of the Python test clients.
let clientsDirectory: String = {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Clients").path
}()

/// Polls `condition` every 10 ms until it holds or `timeout` passes; returns whether it held.
func eventually(timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while clock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return try await condition()
}

/// Hands data from one Dispatch closure to another (guarded by a DispatchGroup wait).
private final class DataBox: @unchecked Sendable {
    var data = Data()
}
