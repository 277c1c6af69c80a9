import Synchronization
import Testing

@testable import TagihService

@Suite struct PipelineTests {
    /// Lines added while a batch runs form the next batch; every line is run exactly once, in input order, in
    /// batches of at most `maxBatch`, and its result lands in its own slot.
    @Test(arguments: [1, 3, 64])
    func batchesRunInInputOrderAndCompleteEverySlot(maxBatch: Int) async throws {
        let total = 500
        let results = OrderedResults(window: total)
        let batches = LineBatches<Int>(maxBatch: maxBatch)
        let seen = Mutex<(items: [Int], sizes: [Int])>(([], []))
        async let runner: Void = batches.run(into: results) { items in
            seen.withLock {
                $0.items += items
                $0.sizes.append(items.count)
            }
            await Task.yield()  // let the reader add more while this batch "commits"
            return items.map { Array("r\($0)\n".utf8) }
        }
        for n in 0..<total {
            let index = try await results.register()
            #expect(index == n)
            if n % 7 == 0 {
                results.complete(index, Array("rejected\(n)\n".utf8))  // a line answered at once
            } else {
                batches.add(index, n)
            }
            if n % 50 == 0 { await Task.yield() }
        }
        batches.finish()
        results.finishInput()
        await runner
        var written: [String] = []
        while let chunk = await results.next() { written += chunk.map { String(decoding: $0, as: UTF8.self) } }
        let expected = (0..<total).map { $0 % 7 == 0 ? "rejected\($0)\n" : "r\($0)\n" }
        #expect(written == expected)
        let (items, sizes) = seen.withLock { ($0.items, $0.sizes) }
        #expect(items == (0..<total).filter { $0 % 7 != 0 })
        #expect(sizes.allSatisfy { $0 >= 1 && $0 <= maxBatch })
    }

    /// `run` returns once input is finished and nothing is queued, also when nothing was ever added.
    @Test func runEndsAfterFinishWithAnEmptyQueue() async {
        let results = OrderedResults(window: 4)
        let batches = LineBatches<Int>(maxBatch: 8)
        let calls = Mutex(0)
        async let runner: Void = batches.run(into: results) { items in
            calls.withLock { $0 += 1 }
            return items.map { _ in [] }
        }
        batches.finish()
        await runner
        #expect(calls.withLock { $0 } == 0)
    }
}

/// The dialer session's first look at a line (before any outcome decoding).
@Suite struct DialerInputTests {
    @Test func aRepeatedKeyIsRefusedNotResolved() {
        guard case .invalid(let code, let field, let message) = DialerInput.classify(Array(#"{"type":"ready","n":1,"n":500}"#.utf8))
        else {
            Issue.record("a ready line with two n was accepted")
            return
        }
        #expect(code == "duplicate_key" && field == "n" && message.contains("'n' appears more than once"))
        guard case .ready(let n) = DialerInput.classify(Array(#"{"type":"ready","n":7}"#.utf8)) else {
            Issue.record("a good ready line was refused")
            return
        }
        #expect(n == 7)
        guard case .invalid(let code, let field, _) = DialerInput.classify(
            Array(#"{"type":"outcome","type":"ready","n":3}"#.utf8))
        else {
            Issue.record("a line that is both an outcome and a ready line was accepted")
            return
        }
        #expect(code == "duplicate_key" && field == "type")
    }

    @Test(arguments: [
        (#"{"type":"ready"}"#, "missing_field", "needs 'n'"),
        (#"{"type":"ready","n":"5"}"#, "wrong_type", "found a string"),
        (#"{"type":"ready","n":2.5}"#, "invalid_value", "'n' is 2.5; it must be a whole number"),
        (#"{"type":"ready","n":1e2}"#, "invalid_value", "'n' is 1e2"),
        (#"{"type":"ready","n":10001}"#, "out_of_range", "'n' is 10001; it must be from 0 to 10000"),
        (#"{"type":"ready","n":-1}"#, "out_of_range", "'n' is -1"),
        (#"{"type":"ready","n":99999999999999999999999}"#, "out_of_range", "from 0 to 10000"),
    ])
    func readyCreditSaysWhatIsWrong(line: String, code: String, message: String) {
        guard case .invalid(let c, let field, let m) = DialerInput.classify(Array(line.utf8)) else {
            Issue.record("\(line) was accepted")
            return
        }
        #expect(c == code && field == "n" && m.contains(message), "\(c) \(m)")
    }

    @Test(arguments: [
        (#"{"type":"release"}"#, "missing_field", "needs 'lease'"),
        (#"{"type":"release","lease":7}"#, "wrong_type", "found a number"),
        (#"{"type":"release","lease":""}"#, "invalid_value", "'lease' is empty"),
        (#"{"type":"release","lease":"a","lease":"b"}"#, "duplicate_key", "appears more than once"),
    ])
    func aReleaseLineNamesItsLease(line: String, code: String, message: String) {
        guard case .invalid(let c, let field, let m) = DialerInput.classify(Array(line.utf8)) else {
            Issue.record("\(line) was accepted")
            return
        }
        #expect(c == code && field == "lease" && m.contains(message), "\(c) \(m)")
    }

    /// A line that is not JSON, or not an object, says where and why as the other endpoints do, without a field.
    @Test(arguments: [
        (#"{"type":"ready","n":1"#, "invalid_json", "invalid JSON at byte 22: unterminated object"),
        (#"[1,2]"#, "wrong_type", "expected a JSON object, found an array"),
        (#""ready""#, "wrong_type", "found a string"),
    ])
    func aLineThatIsNotAnObjectSaysWhereAndWhy(line: String, code: String, message: String) {
        guard case .invalid(let c, let field, let m) = DialerInput.classify(Array(line.utf8)) else {
            Issue.record("\(line) was accepted")
            return
        }
        #expect(c == code && field == nil && m.contains(message), "\(c) \(String(describing: field)) \(m)")
        #expect(!String(decoding: JSONLine.errorLine(code: c, message: m, line: 1, field: field), as: UTF8.self)
            .contains("field"))
    }

    @Test func aReleaseLineCarriesItsLease() {
        guard case .release(let id) = DialerInput.classify(Array(#"{"type":"release","lease":"Lab12"}"#.utf8)) else {
            Issue.record("a good release line was refused")
            return
        }
        #expect(id == "Lab12")
        guard case .invalid(_, let field, let message) = DialerInput.classify(Array(#"{"type":"relase"}"#.utf8)) else {
            Issue.record("a misspelt type was accepted")
            return
        }
        #expect(field == "type" && message.contains("expected ready, outcome or release"))
    }
}
