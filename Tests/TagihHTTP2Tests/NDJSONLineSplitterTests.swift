import NIOCore
import Testing
import TagihHTTP2

/// Splits `chunks` and renders each result as "n:text" or "n:!code".
func split(_ chunks: [String], maxLength: Int) -> [String] {
    var splitter = NDJSONLineSplitter(maxLength: maxLength)
    var out: [String] = []
    func drain() {
        while let result = splitter.next() {
            switch result {
            case .success(let line): out.append("\(line.number):\(line.string)")
            case .failure(let error): out.append("\(error.lineNumber):!\(error.code)")
            }
        }
    }
    for chunk in chunks {
        splitter.append(ByteBuffer(string: chunk))
        drain()
    }
    splitter.finish()
    drain()
    return out
}

struct SplitCase: Sendable, CustomTestStringConvertible {
    var name: String
    var chunks: [String]
    var maxLength: Int
    var expected: [String]
    var testDescription: String { name }
}

@Suite("NDJSONLineSplitter")
struct NDJSONLineSplitterTests {
    static let cases: [SplitCase] = [
        .init(name: "one chunk", chunks: ["a\nb\n"], maxLength: 10, expected: ["1:a", "2:b"]),
        .init(name: "no final newline", chunks: ["a\nb"], maxLength: 10, expected: ["1:a", "2:b"]),
        .init(name: "split across chunks", chunks: ["{\"a\"", ":1}\n{", "}\n"], maxLength: 10, expected: ["1:{\"a\":1}", "2:{}"]),
        .init(name: "crlf", chunks: ["a\r\nb\r\n"], maxLength: 10, expected: ["1:a", "2:b"]),
        .init(name: "blank lines counted, skipped", chunks: ["a\n\n\nb\n"], maxLength: 10, expected: ["1:a", "4:b"]),
        .init(name: "exactly max", chunks: ["12345\n"], maxLength: 5, expected: ["1:12345"]),
        .init(name: "too long in one chunk", chunks: ["123456\nok\n"], maxLength: 5, expected: ["1:!line_too_long", "2:ok"]),
        .init(
            name: "too long across chunks is skipped",
            chunks: ["ab", "cdefgh", "ijklmn", "op\nnext\n"],
            maxLength: 5,
            expected: ["1:!line_too_long", "2:next"]
        ),
        .init(name: "too long at end", chunks: ["ok\n", "1234567890"], maxLength: 5, expected: ["1:ok", "2:!line_too_long"]),
        .init(name: "newline only", chunks: ["\n"], maxLength: 5, expected: []),
        .init(name: "empty", chunks: [], maxLength: 5, expected: []),
        .init(name: "byte at a time", chunks: ["a", "b", "\n", "c", "\n"], maxLength: 5, expected: ["1:ab", "2:c"]),
    ]

    @Test(arguments: cases)
    func splits(_ testCase: SplitCase) {
        #expect(split(testCase.chunks, maxLength: testCase.maxLength) == testCase.expected)
    }

    @Test func longLineMemoryStaysBounded() {
        // 10 MiB without a newline and a 1 KiB limit: the splitter never holds more than a chunk plus the limit.
        var splitter = NDJSONLineSplitter(maxLength: 1024)
        let chunk = ByteBuffer(repeating: UInt8(ascii: "x"), count: 64 << 10)
        for _ in 0..<160 {
            splitter.append(chunk)
            #expect(splitter.next() == nil)
        }
        splitter.append(ByteBuffer(string: "\n{}\n"))
        #expect(splitter.next().map { (try? $0.get()) == nil } == true)
        #expect((try? splitter.next()?.get())?.string == "{}")
    }
}
