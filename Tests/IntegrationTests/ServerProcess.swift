import Foundation
import Testing

/// The repository root, found from this file's path.
let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The `tagih` binary built next to the tests (`swift build --build-tests` builds it too).
func tagihBinary() throws -> URL {
    let env = ProcessInfo.processInfo.environment
    if let path = env["TAGIH_BINARY"] { return URL(fileURLWithPath: path) }
    // The test bundle lives in the same build folder as the executable.
    for candidate in [
        Bundle.main.bundleURL.appendingPathComponent("tagih"),
        Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("tagih"),
        repositoryRoot.appendingPathComponent(".build/debug/tagih"),
    ] where FileManager.default.isExecutableFile(atPath: candidate.path) {
        return candidate
    }
    throw HarnessError("the tagih binary was not found; run `swift build --build-tests` first")
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The result of running a command to completion.
struct CommandResult: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a command from PATH with a time limit and returns what it printed.
@discardableResult
func runCommand(_ arguments: [String], input: String? = nil, timeout: TimeInterval = 120) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    let inPipe = Pipe()
    process.standardInput = inPipe
    try process.run()
    if let input { inPipe.fileHandleForWriting.write(Data(input.utf8)) }
    try? inPipe.fileHandleForWriting.close()
    // Read both pipes concurrently so a chatty child cannot block on a full pipe.
    let outBox = DataBox()
    let errBox = DataBox()
    let group = DispatchGroup()
    for (pipe, box) in [(out, outBox), (err, errBox)] {
        group.enter()
        DispatchQueue.global().async {
            box.data = pipe.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
    }
    if group.wait(timeout: .now() + timeout) == .timedOut {
        process.terminate()
        group.wait()
        throw HarnessError("\(arguments.joined(separator: " ")) timed out after \(timeout) s")
    }
    process.waitUntilExit()
    return CommandResult(
        status: process.terminationStatus,
        stdout: String(decoding: outBox.data, as: UTF8.self),
        stderr: String(decoding: errBox.data, as: UTF8.self))
}

final class DataBox: @unchecked Sendable {
    var data = Data()
}

/// A real `tagih serve` child process on an ephemeral port with its own data folder.
final class ServerProcess: @unchecked Sendable {
    let process = Process()
    let dataDirectory: URL
    let port: Int
    let logURL: URL
    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Starts `tagih serve` and waits until `/readyz` answers 200.
    enum ReadyCheck { case h2c, tls }

    /// `logDirectory`: where the log and the port file go (default: the data directory).
    init(
        extraArguments: [String] = [], dataDirectory: URL? = nil, logDirectory: URL? = nil,
        readyTimeout: TimeInterval = 60, readyCheck: ReadyCheck = .h2c
    ) throws {
        let dir = dataDirectory ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("tagih-it-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        self.dataDirectory = dir
        let logs = logDirectory ?? dir
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
        let portFile = logs.appendingPathComponent("port")
        try? FileManager.default.removeItem(at: portFile)
        logURL = logs.appendingPathComponent("server.log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let logHandle = try FileHandle(forWritingTo: logURL)
        process.executableURL = try tagihBinary()
        process.arguments = ["serve", "--host", "127.0.0.1", "--port", "0", "--port-file", portFile.path,
                             "--data", dir.path] + extraArguments
        process.standardOutput = logHandle
        process.standardError = logHandle
        try process.run()
        let deadline = Date().addingTimeInterval(readyTimeout)
        var port = 0
        while Date() < deadline {
            if let text = try? String(contentsOf: portFile, encoding: .utf8),
               let value = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                port = value
                break
            }
            guard process.isRunning else { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        guard port > 0 else {
            process.terminate()
            throw HarnessError("tagih serve did not start: \((try? String(contentsOf: logURL, encoding: .utf8)) ?? "")")
        }
        self.port = port
        while Date() < deadline {
            let probe: [String] = readyCheck == .h2c
                ? ["--http2-prior-knowledge", "http://127.0.0.1:\(port)/readyz"]
                : ["-k", "--http2", "https://127.0.0.1:\(port)/readyz"]
            let r = try runCommand(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}"] + probe, timeout: 10)
            if r.stdout == "200" { return }
            Thread.sleep(forTimeInterval: 0.1)
        }
        process.terminate()
        throw HarnessError("tagih serve never became ready: \(log())")
    }

    /// What the server printed so far.
    func log() -> String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    /// Sends SIGTERM and waits for a clean exit; returns the exit status.
    @discardableResult
    func stop(signal: Int32 = SIGTERM, timeout: TimeInterval = 20) -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        kill(process.processIdentifier, signal)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// Path of a bundled Python client script.
func clientScript(_ name: String) -> String {
    repositoryRoot.appendingPathComponent("Tests/IntegrationTests/Clients/\(name)").path
}

/// curl with HTTP/2 prior knowledge; returns status code and body.
func curl(_ url: String, method: String = "GET", headers: [String] = [], body: String? = nil) throws -> (Int, String) {
    var args = ["curl", "-sS", "--http2-prior-knowledge", "-X", method, "-w", "\n%{http_code}", "--max-time", "30"]
    for h in headers { args += ["-H", h] }
    if body != nil { args += ["--data-binary", "@-"] }
    args.append(url)
    let r = try runCommand(args, input: body)
    var text = r.stdout
    guard let nl = text.lastIndex(of: "\n"), let code = Int(text[text.index(after: nl)...]) else {
        throw HarnessError("curl failed: \(r.stderr)")
    }
    text = String(text[..<nl])
    return (code, text)
}
