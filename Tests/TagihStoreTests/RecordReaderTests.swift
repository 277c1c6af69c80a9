import Foundation
import Testing
import TagihCore
@testable import TagihStore

@Suite struct RecordReaderTests {
    /// A store of `count` debtors, each with a snapshot row and a history row of `historyBytes` bytes (the store
    /// keeps history bodies as given).
    func makeStore(count: Int, historyBytes: (Int) -> Int) async throws -> Store {
        let store = try await Store.open(configuration: .init(directory: temporaryDirectory()))
        var debtors: [Debtor] = []
        for i in 0..<count {
            var d = sampleDebtor
            d.id = "D-\(1000 + i)"
            debtors.append(d)
        }
        let lsns = try await store.upsert(debtors)
        try await store.writeSnapshot(zip(debtors, lsns).map { SnapshotRow(debtor: $0.id, basis: $1, state: [1, 2, 3]) })
        try await store.writeHistory(debtors.enumerated().map { k, d in
            HistoryRow(debtor: d.id, lsn: 7, body: (0..<historyBytes(k)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ k) })
        })
        return store
    }

    /// Every page of the store, read with `read`.
    func pages(_ limit: Int, _ read: (String?, Int) async throws -> RecordPage) async throws -> [RecordPage] {
        var pages: [RecordPage] = []
        var after: String?
        while true {
            let page = try await read(after, limit)
            if page.count == 0 { return pages }
            pages.append(page)
            after = page.lastID
        }
    }

    /// The start's reader (which sizes each page after the last one) reads the same records, snapshot rows and
    /// history rows as the store's own page reads, whatever the sizes of the rows and however they change.
    @Test(arguments: [1, 3, 8])
    func readerPagesEqualStorePages(limit: Int) async throws {
        let store = try await makeStore(count: 40) { k in k < 20 ? 5 + k * 150 : 3000 - k * 70 }
        let reader = try store.openRecordReader()
        let read = try await pages(limit) { try await reader.recordPage(after: $0, limit: $1) }
        let expected = try await pages(limit) { try await store.recordPage(after: $0, limit: $1) }
        try reader.close()
        #expect(read.count == expected.count && read.count == (40 + limit - 1) / limit)
        for (a, b) in zip(read, expected) {
            #expect(a.lastID == b.lastID)
            #expect(a.entries.count == b.entries.count)
            for (x, y) in zip(a.entries, b.entries) {
                #expect(a.bytes[x.id] == b.bytes[y.id])
                #expect(a.bytes[x.body] == b.bytes[y.body])
                #expect(x.state.map { a.bytes[$0] } == y.state.map { b.bytes[$0] })
                #expect(x.history.map { a.bytes[$0] } == y.history.map { b.bytes[$0] })
                #expect(x.historyLSN == y.historyLSN && x.lsn == y.lsn && x.basis == y.basis)
            }
        }
        try await store.close()
    }

    /// Pages of rows much larger than the first page's guess are reserved at their size after the first page:
    /// none grows by doubling (which copies the page and leaves up to twice its size reserved).
    @Test func laterPagesAreReservedAtTheirSize() async throws {
        let store = try await makeStore(count: 48) { _ in 2_000 }
        let reader = try store.openRecordReader()
        let read = try await pages(8) { try await reader.recordPage(after: $0, limit: $1) }
        try reader.close()
        #expect(read.count == 6)
        for page in read.dropFirst() {
            #expect(page.bytes.capacity >= page.bytes.count)
            #expect(Double(page.bytes.capacity) < 1.5 * Double(page.bytes.count),
                    "capacity \(page.bytes.capacity) for \(page.bytes.count) bytes")
        }
        try await store.close()
    }
}
