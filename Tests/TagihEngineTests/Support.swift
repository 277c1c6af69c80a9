import Foundation
import Logging
import TagihCore
import TagihEngine
import TagihStore

func temporaryDirectory(_ name: String = #function) -> String {
    let dir = NSTemporaryDirectory() + "tagih-engine-\(name.filter(\.isLetter))-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

let quietLogger: Logger = {
    var logger = Logger(label: "tagih.engine.tests")
    logger.logLevel = .warning
    return logger
}()

let t0: UnixSeconds = 1_796_137_200  // Tuesday 2026-12-01T15:00:00Z, 10:00 in New York

func makeDebtor(_ i: Int, jurisdiction: String = "US-MA", balance: Int64? = nil, debts: Int = 1) -> Debtor {
    Debtor(
        id: "D-\(i)", jurisdiction: jurisdiction, zone: "America/New_York", segment: "late",
        phones: [Phone(number: "+1617555\(String(10000 + i).suffix(4))", kind: .mobile, zone: "America/New_York")],
        debts: (0..<debts).map { k in
            Debt(id: "A-\(i)-\(k)", balance: Money(tenThousandths: (balance ?? Int64(1_000_000 + i)) + Int64(k)),
                 currency: "USD")
        })
}

func openEngine(
    _ directory: String, clock: VirtualClock, shards: Int = 4, ttl: Int64 = 600, policy: ContactPolicy = ContactPolicy()
) async throws -> Engine {
    var configuration = EngineConfiguration(dataDirectory: directory)
    configuration.shardCount = shards
    configuration.leaseTTL = ttl
    return try await Engine.open(configuration: configuration, clock: clock, policy: policy, logger: quietLogger)
}

func outcome(
    _ attempt: String, _ debtor: Debtor, _ kind: Outcome, at: UnixSeconds, lease: String? = nil
) -> OutcomeEvent {
    OutcomeEvent(
        attempt: attempt, debtor: debtor.id, debt: debtor.debts[0].id, phone: debtor.phones[0].number, at: at,
        outcome: kind, lease: lease,
        promise: kind == .promiseToPay ? PromiseTerms(amount: Money(decimal: "10")!, due: "2026-12-05") : nil,
        callbackAt: kind == .callbackRequested ? at + 7200 : nil)
}

/// Records which debtors are held by some dialer right now; reports any debtor handed out twice.
actor HeldSet {
    private var held: Set<String> = []
    private(set) var conflicts: [String] = []
    private(set) var grants = 0

    func acquire(_ ids: [String]) {
        for id in ids {
            grants += 1
            if !held.insert(id).inserted { conflicts.append(id) }
        }
    }

    func release(_ id: String) { held.remove(id) }
}

/// The decision without its reasons (a decision restored from a snapshot carries none until re-decided).
func withoutReasons(_ d: Decision?) -> Decision? {
    guard var d else { return nil }
    d.reasons = []
    return d
}
