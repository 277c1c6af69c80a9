/// Lines of a text file, split on the `\n` byte, each without its line break (`\n` or `\r\n`).
///
/// Swift's `String.split(separator: "\n")` compares Characters, and `"\r\n"` is one Character (one grapheme
/// cluster), so it never splits a file with Windows line endings: every reader of NDJSON, token or calendar files
/// splits here instead, so that line numbers stay exact whatever the line endings.
public enum TextLines {
    /// The lines of `text`, in order; an empty line is kept (so that line `k` of the file is element `k - 1`), and a
    /// final line break does not add an empty last line.
    public static func split(_ text: String) -> [Substring] {
        if text.isEmpty { return [] }
        var lines: [Substring] = []
        for view in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            var line = view
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            lines.append(Substring(line))
        }
        if text.utf8.last == UInt8(ascii: "\n") { lines.removeLast() }
        return lines
    }
}
