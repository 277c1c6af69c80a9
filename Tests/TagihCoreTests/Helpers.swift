import Foundation

@testable import TagihCore

func t(_ s: String) -> Int64 {
    guard let v = RFC3339.parse(s) else { fatalError("bad time \(s)") }
    return v
}

func phone(_ n: String, _ kind: PhoneKind = .mobile, zone: String? = nil, owner: PhoneOwner = .debtor) -> Phone {
    Phone(number: n, kind: kind, zone: zone, owner: owner)
}

func person(
    _ j: String = "US", zone: String? = "America/New_York", phones: [Phone] = [phone("+16175550100")],
    debts: [Debt] = [Debt(id: "A-1", balance: Money(decimal: "1000.00")!, currency: "USD")],
    status: DebtorStatus = .active, quiet: [QuietTime] = [], segment: String? = "late"
) -> Debtor {
    Debtor(id: "D-1", jurisdiction: j, zone: zone, status: status, segment: segment, phones: phones, debts: debts,
           quiet: quiet)
}

func attempt(
    _ at: String, _ o: Outcome, debt: String = "A-1", phone: String = "+16175550100", promise: PromiseTerms? = nil,
    callbackAt: String? = nil
) -> OutcomeEvent {
    OutcomeEvent(attempt: "x-\(at)-\(o.rawValue)", debtor: "D-1", debt: debt, phone: phone, at: t(at), outcome: o,
                 promise: promise, callbackAt: callbackAt.map(t))
}

let policy = ContactPolicy()

func decide(_ d: Debtor, _ h: DebtorHistory = DebtorHistory(), at now: String) -> Decision {
    policy.decide(for: d, history: h, now: t(now))[0]
}

func fmt(_ v: Int64?, _ zone: String = "UTC") -> String {
    guard let v else { return "never" }
    return RFC3339.format(v, in: ZoneDatabase.system.zone(named: zone)!)
}
