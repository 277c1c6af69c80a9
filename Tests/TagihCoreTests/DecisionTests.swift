import Foundation
import Testing

@testable import TagihCore

/// One row: a debtor, a history, `now`, and the expected earliest permitted time (UTC, nil = never).
struct Case: CustomTestStringConvertible, Sendable {
    var name: String
    var debtor: Debtor
    var history: DebtorHistory = DebtorHistory()
    var now: String
    var earliest: String?
    var windowEnds: String? = nil
    var phone: String? = nil
    var reason: String? = nil
    /// `reason` is the whole first reason, not a part of it.
    var wholeReason = false
    var testDescription: String { name }
}

let dailyNoAnswers = ["2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27", "2026-11-28", "2026-11-29"].map {
    attempt("\($0)T15:00:00Z", .noAnswer)
}

let cases: [Case] = [
    // Windows.
    Case(name: "permitted now (09:05 EST)", debtor: person(), now: "2026-11-30T14:05:00Z",
         earliest: "2026-11-30T14:05:00Z", windowEnds: "2026-12-01T02:00:00Z", reason: "permitted now"),
    Case(name: "before 08:00 local", debtor: person(), now: "2026-11-30T12:00:00Z", earliest: "2026-11-30T13:00:00Z",
         reason: "window"),
    Case(name: "at 21:00 local: next morning", debtor: person(), now: "2026-12-01T02:00:00Z",
         earliest: "2026-12-01T13:00:00Z"),
    Case(name: "20:59:59 local is still inside", debtor: person(), now: "2026-12-01T01:59:59Z",
         earliest: "2026-12-01T01:59:59Z", windowEnds: "2026-12-01T02:00:00Z"),
    // 7-in-7.
    Case(name: "8th call in 7 days waits for the oldest day to drop out", debtor: person(),
         history: DebtorHistory(outcomes: dailyNoAnswers + [attempt("2026-11-30T14:00:00Z", .noAnswer)]),
         now: "2026-11-30T19:00:00Z", earliest: "2026-12-01T13:00:00Z", reason: "7-day cap"),
    Case(name: "7th call in 7 days is allowed", debtor: person(),
         history: DebtorHistory(outcomes: dailyNoAnswers), now: "2026-11-30T19:00:00Z",
         earliest: "2026-11-30T19:00:00Z"),
    Case(name: "busy does not count toward 7-in-7", debtor: person(),
         history: DebtorHistory(outcomes: dailyNoAnswers + [attempt("2026-11-30T14:00:00Z", .busy)]),
         now: "2026-11-30T19:00:00Z", earliest: "2026-11-30T19:00:00Z"),
    Case(name: "a lease that expires counts as an attempt", debtor: person(),
         history: DebtorHistory(outcomes: dailyNoAnswers, unresolved: [
            UnresolvedAttempt(debtor: "D-1", debt: "A-1", phone: "+16175550100", at: t("2026-11-30T14:00:00Z")),
         ]), now: "2026-11-30T19:00:00Z", earliest: "2026-12-01T13:00:00Z", reason: "7-day cap"),
    Case(name: "expired lease: retry delay as no_answer", debtor: person(),
         history: DebtorHistory(unresolved: [
            UnresolvedAttempt(debtor: "D-1", debt: "A-1", phone: "+16175550100", at: t("2026-11-30T14:00:00Z")),
         ]), now: "2026-11-30T15:00:00Z", earliest: "2026-11-30T18:00:00Z", reason: "retry delay"),
    // Conversation block.
    Case(name: "conversation Monday 20:55 -> next Monday 08:00", debtor: person(),
         history: DebtorHistory(outcomes: [attempt("2026-12-01T01:55:00Z", .rightParty)]),
         now: "2026-12-01T02:00:00Z", earliest: "2026-12-07T13:00:00Z", reason: "conversation block"),
    Case(name: "refused also blocks 7 days", debtor: person(),
         history: DebtorHistory(outcomes: [attempt("2026-11-30T15:00:00Z", .refused)]),
         now: "2026-12-03T15:00:00Z", earliest: "2026-12-07T13:00:00Z"),
    Case(name: "block across the DST end (Sun 2026-11-01 -> Sun 11-08 08:00 EST)", debtor: person(),
         history: DebtorHistory(outcomes: [attempt("2026-11-01T15:00:00Z", .rightParty)]),
         now: "2026-11-02T15:00:00Z", earliest: "2026-11-08T13:00:00Z"),
    Case(name: "block across the DST start (Sat 03-07 23:30 EST -> Sat 03-14 08:00 EDT)", debtor: person(),
         history: DebtorHistory(outcomes: [attempt("2026-03-08T04:30:00Z", .rightParty)]),
         now: "2026-03-09T15:00:00Z", earliest: "2026-03-14T12:00:00Z"),
    Case(name: "a week across DST: calendar days, not 168 h", debtor: person(),
         history: DebtorHistory(outcomes: ["03", "04", "05", "06", "07", "08", "09"].map {
             attempt("2026-03-\($0)T01:30:00Z", .noAnswer)
         }), now: "2026-03-09T12:00:00Z", earliest: "2026-03-09T12:00:00Z"),
    // Zones.
    Case(name: "split area code 850 (ET+CT), no address zone", debtor: person("US-FL", zone: nil,
         phones: [phone("+18505550100")]), now: "2026-11-30T13:30:00Z", earliest: "2026-11-30T14:00:00Z",
         windowEnds: "2026-12-01T02:00:00Z"),
    Case(name: "split area code 208 (PT+MT)", debtor: person("US-ID", zone: nil, phones: [phone("+12085550100")]),
         now: "2026-11-30T15:00:00Z", earliest: "2026-11-30T16:00:00Z", windowEnds: "2026-12-01T04:00:00Z"),
    Case(name: "address Pacific + phone Eastern: 11:00-21:00 Eastern",
         debtor: person("US-CA", zone: "America/Los_Angeles"), now: "2026-11-30T14:05:00Z",
         earliest: "2026-11-30T16:00:00Z", windowEnds: "2026-12-01T02:00:00Z"),
    Case(name: "Arizona address, Navajo Nation phone zone, summer",
         debtor: person("US-AZ", zone: "America/Phoenix", phones: [phone("+19285550100", zone: "America/Denver")]),
         now: "2026-07-15T14:30:00Z", earliest: "2026-07-15T15:00:00Z", windowEnds: "2026-07-16T03:00:00Z"),
    Case(name: "Arizona address, Navajo Nation phone zone, winter (same offset)",
         debtor: person("US-AZ", zone: "America/Phoenix", phones: [phone("+19285550100", zone: "America/Denver")]),
         now: "2026-12-15T14:30:00Z", earliest: "2026-12-15T15:00:00Z", windowEnds: "2026-12-16T04:00:00Z"),
    Case(name: "Guam (UTC+10)", debtor: person("US-GU", zone: "Pacific/Guam", phones: [phone("+16715550100")]),
         now: "2026-11-30T21:00:00Z", earliest: "2026-11-30T22:00:00Z", windowEnds: "2026-12-01T11:00:00Z"),
    Case(name: "Newfoundland (UTC-3:30)", debtor: person("CA-NL", zone: "America/St_Johns",
         phones: [phone("+17095550100", zone: "America/St_Johns")]), now: "2026-11-30T11:00:00Z", earliest: "2026-11-30T11:30:00Z",
         windowEnds: "2026-12-01T00:30:00Z"),
    Case(name: "709 without zones, jurisdiction without a zone list: Atlantic and Newfoundland intersect",
         debtor: person("XX", zone: nil, phones: [phone("+17095550100")]), now: "2026-11-30T11:00:00Z",
         earliest: "2026-11-30T12:00:00Z"),
    Case(name: "address zone unknown, phone zone known: every US zone joins the phone's (stricter reading)",
         debtor: person(zone: nil, phones: [phone("+13105550100", zone: "America/Los_Angeles")]),
         now: "2026-11-30T14:00:00Z", earliest: "2026-11-30T18:00:00Z", windowEnds: "2026-12-01T02:00:00Z"),
    Case(name: "zone unknown: intersection of every US zone (ET 13:00 HST)", debtor: person(zone: nil,
         phones: [phone("+15005550100")]), now: "2026-11-30T14:00:00Z", earliest: "2026-11-30T18:00:00Z",
         windowEnds: "2026-12-01T02:00:00Z"),
    // Indonesia.
    Case(name: "ID on a Sunday -> Monday 08:00 WIB", debtor: person("ID", zone: "Asia/Jakarta",
         phones: [phone("+6281234567890")], debts: [Debt(id: "A-1", balance: Money(decimal: "5000000")!,
         currency: "IDR")]), now: "2026-11-29T03:00:00Z", earliest: "2026-11-30T01:00:00Z"),
    Case(name: "ID on a national holiday (2026-08-17) -> next day", debtor: person("ID", zone: "Asia/Jakarta",
         phones: [phone("+6281234567890")]), now: "2026-08-17T03:00:00Z", earliest: "2026-08-18T01:00:00Z"),
    Case(name: "ID collective leave 2026-12-24 + Christmas -> Sat 12-26", debtor: person("ID", zone: "Asia/Jakarta",
         phones: [phone("+6281234567890")]), now: "2026-12-24T03:00:00Z", earliest: "2026-12-26T01:00:00Z"),
    Case(name: "ID WIT debtor at 19:30 WIB (21:30 WIT) -> next day 08:00 WIT",
         debtor: person("ID", zone: "Asia/Jayapura", phones: [phone("+6281234567890")]),
         now: "2026-12-01T12:30:00Z", earliest: "2026-12-01T23:00:00Z"),
    Case(name: "ID unknown zone (mobile): 08:00 WIB - 20:00 WIT", debtor: person("ID", zone: nil,
         phones: [phone("+6281234567890")]), now: "2026-12-01T12:30:00Z", earliest: "2026-12-02T01:00:00Z",
         windowEnds: "2026-12-02T11:00:00Z"),
    Case(name: "ID emergency contact is never dialed", debtor: person("ID", zone: "Asia/Jakarta",
         phones: [phone("+6281234567890", owner: .emergency)]), now: "2026-12-01T03:00:00Z", earliest: nil),
    Case(name: "ID: a day the holiday calendar does not cover counts as a holiday (2032; bundled: 2025-2030)",
         debtor: person("ID", zone: "Asia/Jakarta", phones: [phone("+6281234567890")]),
         now: "2032-08-16T03:00:00Z", earliest: nil,
         reason: "no holiday calendar for 2032 (ID; the calendar in use covers 2025-2030)"),
    Case(name: "ID: the last covered days are callable up to the calendar's end, not after",
         debtor: person("ID", zone: "Asia/Jakarta", phones: [phone("+6281234567890")]),
         now: "2030-12-30T03:00:00Z", earliest: "2030-12-30T03:00:00Z", windowEnds: "2030-12-30T13:00:00Z"),
    // India, GB, default.
    Case(name: "IN window ends at 19:00", debtor: person("IN", zone: "Asia/Kolkata", phones: [phone("+919812345678")]),
         now: "2026-12-01T13:40:00Z", earliest: "2026-12-02T02:30:00Z"),
    Case(name: "GB: no redial within 72 h after abandoned", debtor: person("GB", zone: "Europe/London",
         phones: [phone("+447700900123")]),
         history: DebtorHistory(outcomes: [attempt("2026-12-01T10:00:00Z", .abandoned, phone: "+447700900123")]),
         now: "2026-12-01T15:00:00Z", earliest: "2026-12-04T10:00:00Z", reason: "72 h"),
    Case(name: "GB: a consented callback does not lift the 72 h hold after an abandoned call",
         debtor: person("GB", zone: "Europe/London", phones: [phone("+447700900123")]),
         history: DebtorHistory(outcomes: [
            attempt("2026-12-02T17:03:15Z", .callbackRequested, phone: "+447700900123", callbackAt: "2026-12-04T12:00:00Z"),
            attempt("2026-12-03T17:01:40Z", .abandoned, phone: "+447700900123"),
         ]),
         now: "2026-12-04T12:30:00Z", earliest: "2026-12-09T08:00:00Z", reason: "house rule: conversation block"),
    Case(name: "GB: refused, the house conversation block holds the debt 7 days (not the 15-minute gap)",
         debtor: person("GB", zone: "Europe/London", phones: [phone("+447700900123")]),
         history: DebtorHistory(outcomes: [attempt("2026-12-01T17:01:30Z", .refused, phone: "+447700900123")]),
         now: "2026-12-01T17:17:00Z", earliest: "2026-12-08T08:00:00Z",
         reason: "house rule: conversation block (conversation day + 6 days) until 2026-12-08T00:00:00+00:00"),
    Case(name: "GB: a callback asked for in 2 days is the next call, not one 15 minutes later",
         debtor: person("GB", zone: "Europe/London", phones: [phone("+447700900123")]),
         history: DebtorHistory(outcomes: [attempt("2026-12-01T17:01:10Z", .callbackRequested, phone: "+447700900123",
                                                   callbackAt: "2026-12-03T15:00:00Z")]),
         now: "2026-12-01T17:17:00Z", earliest: "2026-12-03T15:00:00Z", reason: "consented callback"),
    Case(name: "ID: a right-party contact blocks the debt until the same weekday next week (house rule)",
         debtor: person("ID", zone: "Asia/Jakarta", phones: [phone("+6281234567890")]),
         history: DebtorHistory(outcomes: [attempt("2026-12-01T03:00:00Z", .rightParty, phone: "+6281234567890")]),
         now: "2026-12-01T04:00:00Z", earliest: "2026-12-08T01:00:00Z", reason: "house rule: conversation block"),
    Case(name: "default pack 08-21", debtor: person("FR", zone: "Europe/Paris", phones: [phone("+33612345678")]),
         now: "2026-12-01T20:30:00Z", earliest: "2026-12-02T07:00:00Z"),
    // Promises.
    Case(name: "promise hold until due + 2 days grace (ID, lands on collective leave + Christmas)",
         debtor: person("ID", zone: "Asia/Jakarta", phones: [phone("+6281234567890")]),
         history: DebtorHistory(outcomes: [attempt("2026-12-18T03:00:00Z", .promiseToPay, phone: "+6281234567890",
             promise: PromiseTerms(amount: Money(decimal: "100")!, due: "2026-12-21"))]),
         now: "2026-12-18T04:00:00Z", earliest: "2026-12-26T01:00:00Z"),
    Case(name: "promise due on a holiday (2026-12-25): hold through 12-27, Mon 12-28 08:00 WIB",
         debtor: person("ID", zone: "Asia/Jakarta", phones: [phone("+6281234567890")]),
         history: DebtorHistory(outcomes: [attempt("2026-12-18T03:00:00Z", .promiseToPay, phone: "+6281234567890",
             promise: PromiseTerms(amount: Money(decimal: "100")!, due: "2026-12-25"))]),
         now: "2026-12-18T04:00:00Z", earliest: "2026-12-28T01:00:00Z", reason: "promise hold"),
    Case(name: "US promise: hold until due+grace (later than the block)", debtor: person(),
         history: DebtorHistory(outcomes: [attempt("2026-11-30T15:00:00Z", .promiseToPay,
             promise: PromiseTerms(amount: Money(decimal: "100")!, due: "2026-12-10"))]),
         now: "2026-12-01T15:00:00Z", earliest: "2026-12-13T13:00:00Z", reason: "promise hold"),
    Case(name: "broken promise: eligible at once", debtor: person(),
         history: DebtorHistory(outcomes: [attempt("2026-11-20T15:00:00Z", .promiseToPay,
             promise: PromiseTerms(amount: Money(decimal: "100")!, due: "2026-11-25"))]),
         now: "2026-11-30T15:00:00Z", earliest: "2026-11-30T15:00:00Z", reason: "permitted now"),
    Case(name: "kept promise releases the hold (block still applies)", debtor: person(),
         history: DebtorHistory(outcomes: [attempt("2026-11-20T15:00:00Z", .promiseToPay,
             promise: PromiseTerms(amount: Money(decimal: "100")!, due: "2026-12-25"))], payments: [
                PaymentEvent(payment: "P-1", debtor: "D-1", debt: "A-1", amount: Money(decimal: "100")!,
                             at: t("2026-11-22T15:00:00Z")),
             ]), now: "2026-11-30T15:00:00Z", earliest: "2026-11-30T15:00:00Z"),
    // Callbacks.
    Case(name: "consented callback inside the 7-day block", debtor: person(),
         history: DebtorHistory(outcomes: [attempt("2026-11-30T15:00:00Z", .callbackRequested,
             callbackAt: "2026-12-02T19:00:00Z")]),
         now: "2026-12-01T15:00:00Z", earliest: "2026-12-02T19:00:00Z", windowEnds: "2026-12-02T21:00:00Z",
         reason: "consented callback"),
    Case(name: "callback at 20:30 local: only until the window closes", debtor: person(),
         history: DebtorHistory(outcomes: [attempt("2026-11-30T15:00:00Z", .callbackRequested,
             callbackAt: "2026-12-03T01:30:00Z")]),
         now: "2026-12-01T15:00:00Z", earliest: "2026-12-03T01:30:00Z", windowEnds: "2026-12-03T02:00:00Z"),
    Case(name: "callback at 22:00 local: outside the window, not consented -> block", debtor: person(),
         history: DebtorHistory(outcomes: [attempt("2026-11-30T15:00:00Z", .callbackRequested,
             callbackAt: "2026-12-03T03:00:00Z")]),
         now: "2026-12-01T15:00:00Z", earliest: "2026-12-07T13:00:00Z"),
    Case(name: "callback already used: back to the block", debtor: person(),
         history: DebtorHistory(outcomes: [
             attempt("2026-11-30T15:00:00Z", .callbackRequested, callbackAt: "2026-12-02T19:00:00Z"),
             attempt("2026-12-02T19:10:00Z", .noAnswer),
         ]), now: "2026-12-02T20:00:00Z", earliest: "2026-12-07T13:00:00Z"),
    // A later conversation about the debt answers the request: no consent left (the stricter reading).
    Case(name: "callback requested, then a promise: the promise's hold binds", debtor: person(),
         history: DebtorHistory(outcomes: [
             attempt("2026-11-30T15:00:00Z", .callbackRequested, callbackAt: "2026-12-02T19:00:00Z"),
             attempt("2026-12-01T15:00:00Z", .promiseToPay,
                     promise: PromiseTerms(amount: Money(decimal: "10")!, due: "2026-12-10")),
         ]), now: "2026-12-02T19:30:00Z", earliest: "2026-12-13T13:00:00Z"),
    Case(name: "callback requested, then a refusal: the conversation block binds", debtor: person(),
         history: DebtorHistory(outcomes: [
             attempt("2026-11-30T15:00:00Z", .callbackRequested, callbackAt: "2026-12-02T19:00:00Z"),
             attempt("2026-12-01T15:00:00Z", .refused),
         ]), now: "2026-12-02T19:30:00Z", earliest: "2026-12-08T13:00:00Z"),
    Case(name: "a conversation about another debt leaves this debt's callback consented",
         debtor: person(debts: [Debt(id: "A-1", balance: Money(decimal: "1000.00")!, currency: "USD"),
                                Debt(id: "A-2", balance: Money(decimal: "50.00")!, currency: "USD")]),
         history: DebtorHistory(outcomes: [
             attempt("2026-11-30T15:00:00Z", .callbackRequested, callbackAt: "2026-12-02T19:00:00Z"),
             attempt("2026-12-01T15:00:00Z", .refused, debt: "A-2"),
         ]), now: "2026-12-02T19:30:00Z", earliest: "2026-12-02T19:30:00Z", reason: "consented callback"),
    Case(name: "nothing known about the zone: never (conservative)", debtor: person("XX", zone: nil,
         phones: [phone("+999123456789")]), now: "2026-11-30T15:00:00Z", earliest: nil),
    Case(name: "promise due in 60 days: hold beyond 30 days", debtor: person(),
         history: DebtorHistory(outcomes: [attempt("2026-11-30T15:00:00Z", .promiseToPay,
             promise: PromiseTerms(amount: Money(decimal: "100")!, due: "2027-01-29"))]),
         now: "2026-12-01T15:00:00Z", earliest: "2027-02-01T13:00:00Z", reason: "promise hold"),
    // Hard stops.
    Case(name: "status cease", debtor: person(status: .cease), now: "2026-11-30T15:00:00Z", earliest: nil),
    Case(name: "status bankruptcy", debtor: person(status: .bankruptcy), now: "2026-11-30T15:00:00Z", earliest: nil),
    Case(name: "cease outcome", debtor: person(), history: DebtorHistory(outcomes: [
        attempt("2026-11-20T15:00:00Z", .cease)]), now: "2026-11-30T15:00:00Z", earliest: nil),
    Case(name: "cease cleared", debtor: person(), history: DebtorHistory(outcomes: [
        attempt("2026-11-20T15:00:00Z", .cease)], clearances: [HoldClearance(kind: .cease, at: t("2026-11-21T00:00:00Z"))]),
         now: "2026-11-30T15:00:00Z", earliest: "2026-11-30T15:00:00Z"),
    Case(name: "dispute open", debtor: person(), history: DebtorHistory(outcomes: [
        attempt("2026-11-20T15:00:00Z", .dispute)]), now: "2026-11-30T15:00:00Z", earliest: nil),
    Case(name: "dispute cleared", debtor: person(), history: DebtorHistory(outcomes: [
        attempt("2026-11-20T15:00:00Z", .dispute)],
        clearances: [HoldClearance(kind: .dispute, debt: "A-1", at: t("2026-11-21T00:00:00Z"))]),
         now: "2026-11-30T15:00:00Z", earliest: "2026-11-30T15:00:00Z"),
    Case(name: "paid on a call", debtor: person(), history: DebtorHistory(outcomes: [
        attempt("2026-11-20T15:00:00Z", .paid)]), now: "2026-11-30T15:00:00Z", earliest: nil),
    Case(name: "settled by payments", debtor: person(), history: DebtorHistory(payments: [
        PaymentEvent(payment: "P", debtor: "D-1", debt: "A-1", amount: Money(decimal: "1000")!, at: 0)]),
         now: "2026-11-30T15:00:00Z", earliest: nil),
    Case(name: "wrong number removed: the other phone is used",
         debtor: person(phones: [phone("+16175550100"), phone("+16175550199", .home)]),
         history: DebtorHistory(outcomes: [attempt("2026-11-30T14:00:00Z", .wrongNumber)]),
         now: "2026-11-30T19:00:00Z", earliest: "2026-11-30T19:00:00Z", phone: "+16175550199"),
    Case(name: "dead number never dialed again", debtor: person(),
         history: DebtorHistory(outcomes: [attempt("2026-11-30T14:00:00Z", .notInService)]),
         now: "2026-11-30T19:00:00Z", earliest: nil),
    Case(name: "quiet time: not before 10", debtor: person(quiet: [QuietTime(days: [], fromMinute: 0, toMinute: 600)]),
         now: "2026-11-30T14:05:00Z", earliest: "2026-11-30T15:00:00Z", reason: "quiet time 00:00-10:00 (the debtor's) ends"),
    Case(name: "quiet lunch: the reason names the quiet time, not the window",
         debtor: person(quiet: [QuietTime(days: [1], fromMinute: 720, toMinute: 840)]),
         now: "2026-11-30T17:30:00Z", earliest: "2026-11-30T19:00:00Z",
         reason: "quiet time 12:00-14:00 (the debtor's) ends 2026-11-30T14:00:00-05:00"),
    Case(name: "quiet time: no Sundays", debtor: person(quiet: [QuietTime(days: [7], fromMinute: 0, toMinute: 1440)]),
         now: "2026-11-29T15:00:00Z", earliest: "2026-11-30T13:00:00Z"),
    Case(name: "quiet lunch 12-13 splits the window", debtor: person(quiet: [QuietTime(days: [], fromMinute: 720,
         toMinute: 780)]), now: "2026-11-30T16:30:00Z", earliest: "2026-11-30T16:30:00Z",
         windowEnds: "2026-11-30T17:00:00Z"),
    // House rules.
    Case(name: "no_answer retry after 4 h", debtor: person(), history: DebtorHistory(outcomes: [
        attempt("2026-11-30T14:00:00Z", .noAnswer)]), now: "2026-11-30T15:00:00Z", earliest: "2026-11-30T18:00:00Z"),
    Case(name: "retry delay ending inside the window: the reason is the delay alone", debtor: person(),
         history: DebtorHistory(outcomes: [attempt("2026-11-30T14:00:00Z", .noAnswer)]), now: "2026-11-30T15:00:00Z",
         earliest: "2026-11-30T18:00:00Z", reason: "retry delay after no_answer until 2026-11-30T13:00:00-05:00",
         wholeReason: true),
    Case(name: "retry delay ending after the window closed: the reason names both and their times", debtor: person(),
         history: DebtorHistory(outcomes: [attempt("2026-12-01T01:15:00Z", .noAnswer)]), now: "2026-12-01T01:30:00Z",
         earliest: "2026-12-01T13:00:00Z",
         reason: "retry delay after no_answer until 2026-12-01T00:15:00-05:00, then window 08:00-21:00 "
             + "America/New_York (US) opens 2026-12-01T08:00:00-05:00"),
    Case(name: "busy retry after 30 min", debtor: person(), history: DebtorHistory(outcomes: [
        attempt("2026-11-30T14:00:00Z", .busy)]), now: "2026-11-30T14:10:00Z", earliest: "2026-11-30T14:30:00Z"),
    Case(name: "3 busy on a phone today: next day", debtor: person(), history: DebtorHistory(outcomes: [
        attempt("2026-11-30T14:00:00Z", .busy), attempt("2026-11-30T15:00:00Z", .busy),
        attempt("2026-11-30T16:00:00Z", .busy),
    ]), now: "2026-11-30T17:00:00Z", earliest: "2026-12-01T13:00:00Z", reason: "busy"),
    Case(name: "voicemail: one message per day", debtor: person(), history: DebtorHistory(outcomes: [
        attempt("2026-11-30T14:00:00Z", .voicemail)]), now: "2026-11-30T19:00:00Z",
         earliest: "2026-12-01T13:00:00Z", reason: "voicemail"),
    Case(name: "3 counted attempts today: next day", debtor: person(), history: DebtorHistory(outcomes: [
        attempt("2026-11-30T13:00:00Z", .noAnswer), attempt("2026-11-30T17:00:00Z", .noAnswer),
        attempt("2026-11-30T21:00:00Z", .thirdParty),
    ]), now: "2026-12-01T01:30:00Z", earliest: "2026-12-01T13:00:00Z"),
    // Sub-region packs.
    Case(name: "US-FL falls back to US (7-in-7 applies)", debtor: person("US-FL"),
         history: DebtorHistory(outcomes: dailyNoAnswers + [attempt("2026-11-30T14:00:00Z", .noAnswer)]),
         now: "2026-11-30T19:00:00Z", earliest: "2026-12-01T13:00:00Z"),
    Case(name: "PR (Puerto Rico, ISO code of its own) gets the US pack: the conversation block applies",
         debtor: person("PR", zone: "America/Puerto_Rico", phones: [phone("+17875550100")]),
         history: DebtorHistory(outcomes: [attempt("2026-11-30T15:00:00Z", .rightParty, phone: "+17875550100")]),
         now: "2026-11-30T16:00:00Z", earliest: "2026-12-07T12:00:00Z"),
    Case(name: "GU (Guam) gets the US pack: the 8th call in 7 days waits",
         debtor: person("GU", zone: "Pacific/Guam", phones: [phone("+16715550100")]),
         history: DebtorHistory(outcomes: ["2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27", "2026-11-28",
                                           "2026-11-29", "2026-11-30"].map {
             attempt("\($0)T00:00:00Z", .noAnswer, phone: "+16715550100")
         }),
         now: "2026-11-30T05:00:00Z", earliest: "2026-11-30T22:00:00Z"),
    Case(name: "US-MA: 2 calls in 7 days to personal numbers", debtor: person("US-MA"),
         history: DebtorHistory(outcomes: [attempt("2026-11-27T15:00:00Z", .noAnswer),
                                           attempt("2026-11-29T15:00:00Z", .noAnswer)]),
         now: "2026-11-30T15:00:00Z", earliest: "2026-12-04T13:00:00Z", reason: "US-MA"),
    Case(name: "US-MA: work number has its own 2-in-30 budget",
         debtor: person("US-MA", phones: [phone("+16175550100"), phone("+16175550155", .work)]),
         history: DebtorHistory(outcomes: [attempt("2026-11-27T15:00:00Z", .noAnswer),
                                           attempt("2026-11-29T15:00:00Z", .noAnswer)]),
         now: "2026-11-30T15:00:00Z", earliest: "2026-11-30T15:00:00Z", phone: "+16175550155"),
    Case(name: "US-WA: 3 calls per debtor in 7 days across debts",
         debtor: person("US-WA", zone: "America/Los_Angeles", phones: [phone("+12065550100")], debts: [
             Debt(id: "A-1", balance: Money(decimal: "10")!, currency: "USD"),
             Debt(id: "A-2", balance: Money(decimal: "10")!, currency: "USD"),
         ]),
         history: DebtorHistory(outcomes: [
             attempt("2026-11-26T18:00:00Z", .noAnswer, phone: "+12065550100"),
             attempt("2026-11-27T18:00:00Z", .noAnswer, debt: "A-2", phone: "+12065550100"),
             attempt("2026-11-28T18:00:00Z", .noAnswer, debt: "A-2", phone: "+12065550100"),
         ]), now: "2026-11-30T18:00:00Z", earliest: "2026-12-03T16:00:00Z", reason: "US-WA"),
    Case(name: "US-NY-NYC: 3 attempts per debt in 7 days, busy included",
         debtor: person("US-NY-NYC"), history: DebtorHistory(outcomes: [
             attempt("2026-11-27T15:00:00Z", .busy), attempt("2026-11-28T15:00:00Z", .notInService,
                                                              phone: "+12125550000"),
             attempt("2026-11-29T15:00:00Z", .busy),
         ]), now: "2026-11-30T15:00:00Z", earliest: "2026-12-04T13:00:00Z", reason: "US-NY-NYC"),
    Case(name: "US-NY-NYC: a consented callback is still an attempt under the NYC cap",
         debtor: person("US-NY-NYC"), history: DebtorHistory(outcomes: [
             attempt("2026-11-28T15:00:00Z", .busy), attempt("2026-11-29T15:00:00Z", .busy),
             attempt("2026-11-30T15:00:00Z", .callbackRequested, callbackAt: "2026-12-02T19:00:00Z"),
         ]), now: "2026-12-01T15:00:00Z", earliest: "2026-12-07T13:00:00Z"),
    Case(name: "US-NY-NYC rule not in force before 2026-09-01",
         debtor: person("US-NY-NYC"), history: DebtorHistory(outcomes: [
             attempt("2026-08-27T15:00:00Z", .busy), attempt("2026-08-28T15:00:00Z", .busy),
             attempt("2026-08-29T15:00:00Z", .busy),
         ]), now: "2026-08-30T15:00:00Z", earliest: "2026-08-30T15:00:00Z"),
]

@Suite struct DecisionTests {
    @Test(arguments: cases)
    func domainRow(_ c: Case) {
        let ds = policy.decide(for: c.debtor, history: c.history, now: t(c.now))
        #expect(ds.count == c.debtor.debts.count)
        let d = ds[0]
        #expect(fmt(d.earliest) == (c.earliest.map { fmt(t($0)) } ?? "never"), "\(d.reasons)")
        if let w = c.windowEnds { #expect(fmt(d.windowEnds) == fmt(t(w))) }
        if let p = c.phone { #expect(d.phone == p) }
        if let r = c.reason {
            #expect(c.wholeReason ? d.reasons.first == r : d.reasons.first?.contains(r) == true, "\(d.reasons)")
        }
        if c.earliest == nil {
            #expect(d.best == nil && d.blockedReason != nil)
        } else if let e = d.earliest, let b = d.best {
            #expect(b >= e && b <= max(t(c.now) + 7 * 86_400, e + 86_400))
            #expect(d.score > 0)
        }
    }

    /// `houseConversationBlock = false`: where the law has no block, only the gap and the daily cap separate
    /// conversations (the house rule off, as an operator may choose).
    /// The reasons show how much of each state cap is used, not only the federal 7-in-7 (which counts neither busy
    /// attempts nor the MA split by number kind): an auditor sees the cap that will bind.
    @Test func stateCapUsageIsInTheReasons() {
        let nyc = decide(person("US-NY-NYC"), DebtorHistory(outcomes: [
            attempt("2026-11-28T15:00:00Z", .busy), attempt("2026-11-29T15:00:00Z", .busy),
        ]), at: "2026-11-30T15:00:00Z")
        #expect(nyc.reasons.contains("cap usage 0/7 in 7 days (pack US-NY-NYC)"), "\(nyc.reasons)")
        #expect(nyc.reasons.contains("state cap usage 2/3 attempts of any outcome in 7 days (pack US-NY-NYC)"),
                "\(nyc.reasons)")
        let ma = decide(person("US-MA", phones: [phone("+16175550100"), phone("+16175550155", .work)]),
                        DebtorHistory(outcomes: [attempt("2026-11-29T15:00:00Z", .noAnswer),
                                                 attempt("2026-11-10T15:00:00Z", .noAnswer, phone: "+16175550155")]),
                        at: "2026-11-30T15:00:00Z")
        #expect(ma.reasons.contains(
            "state cap usage 1/2 to personal numbers in 7 days, 1/2 to other numbers in 30 days (pack US-MA)"),
                "\(ma.reasons)")
        let wa = decide(person("US-WA", zone: "America/Los_Angeles", phones: [phone("+12065550100")], debts: [
            Debt(id: "A-1", balance: Money(decimal: "10")!, currency: "USD"),
            Debt(id: "A-2", balance: Money(decimal: "10")!, currency: "USD"),
        ]), DebtorHistory(outcomes: [attempt("2026-11-28T18:00:00Z", .noAnswer, debt: "A-2", phone: "+12065550100")]),
                        at: "2026-11-30T18:00:00Z")
        #expect(wa.reasons.contains("state cap usage 1/3 about the debtor in 7 days (pack US-WA)"), "\(wa.reasons)")
        let federal = decide(person("US-TX", zone: "America/Chicago"), at: "2026-11-30T18:00:00Z")
        #expect(!federal.reasons.contains { $0.hasPrefix("state cap usage") }, "\(federal.reasons)")
    }

    @Test func houseConversationBlockCanBeTurnedOff() {
        var c = PolicyConfiguration()
        c.houseConversationBlock = false
        let d = person("GB", zone: "Europe/London", phones: [phone("+447700900123")])
        let h = DebtorHistory(outcomes: [attempt("2026-12-01T17:01:30Z", .refused, phone: "+447700900123")])
        let off = ContactPolicy(configuration: c).decide(for: d, history: h, now: t("2026-12-01T17:02:00Z"))[0]
        #expect(fmt(off.earliest) == fmt(t("2026-12-01T17:16:30Z")), "\(off.reasons)")
        let on = policy.decide(for: d, history: h, now: t("2026-12-01T17:02:00Z"))[0]
        #expect(fmt(on.earliest) == fmt(t("2026-12-08T08:00:00Z")), "\(on.reasons)")
        // The legal block of a US pack does not depend on the house rule.
        let us = ContactPolicy(configuration: c).decide(
            for: person(), history: DebtorHistory(outcomes: [attempt("2026-12-01T15:00:00Z", .refused)]),
            now: t("2026-12-01T16:00:00Z"))[0]
        #expect(fmt(us.earliest) == fmt(t("2026-12-08T13:00:00Z")), "\(us.reasons)")
    }

    @Test func deterministic() {
        let d = person(phones: [phone("+18505550100")])
        let h = DebtorHistory(outcomes: dailyNoAnswers)
        let a = policy.decide(for: d, history: h, now: t("2026-11-30T19:00:00Z"))
        let b = policy.decide(for: d, history: h, now: t("2026-11-30T19:00:00Z"))
        #expect(a == b)
    }

    @Test func bestPrefersEveningsAndAvoidsFailedBucket() {
        // Late segment: weekday evenings are the best bucket.
        let d = decide(person(), at: "2026-11-30T14:05:00Z")
        let ny = ZoneDatabase.system.zone(named: "America/New_York")!
        let local = ny.localSeconds(at: d.best!)
        let hour = (local % 86_400) / 3600
        #expect(hour >= 17 && hour < 21, "\(fmt(d.best, "America/New_York"))")
        #expect(d.reasons.contains { $0.hasPrefix("best hour-of-week bucket Mon 17") })
    }

    @Test func scoreRanksNow() {
        let d = person()
        let evening = policy.score(for: d, history: DebtorHistory(), debt: "A-1", at: t("2026-11-30T23:00:00Z"))
        let morning = policy.score(for: d, history: DebtorHistory(), debt: "A-1", at: t("2026-11-30T14:00:00Z"))
        #expect(evening > morning && morning > 0)
        #expect(policy.score(for: person(status: .cease), history: DebtorHistory(), debt: "A-1", at: 0) == 0)
        // Unanswered attempts lower the value (fatigue).
        let tired = policy.score(for: d, history: DebtorHistory(outcomes: dailyNoAnswers), debt: "A-1",
                                 at: t("2026-11-30T23:00:00Z"))
        #expect(tired < evening)
    }

    @Test func brokenPromiseRaisesPriority() {
        let promise = attempt("2026-11-20T15:00:00Z", .promiseToPay,
                              promise: PromiseTerms(amount: Money(decimal: "100")!, due: "2026-11-25"))
        let broken = decide(person(), DebtorHistory(outcomes: [promise]), at: "2026-11-30T15:00:00Z")
        #expect(broken.reasons.contains { $0.contains("promise broken") })
    }

    @Test func thompsonSamplingIsSeededAndDeterministic() {
        var c = PolicyConfiguration()
        c.propensity.thompsonSeed = 42
        let p = ContactPolicy(configuration: c)
        let a = p.decide(for: person(), history: DebtorHistory(), now: t("2026-11-30T14:05:00Z"))
        let b = p.decide(for: person(), history: DebtorHistory(), now: t("2026-11-30T14:05:00Z"))
        #expect(a == b)
        c.propensity.thompsonSeed = 7
        let q = ContactPolicy(configuration: c)
        let bests = (0..<20).map { i in
            q.decide(for: person(), history: DebtorHistory(), now: t("2026-11-30T14:05:00Z") + Int64(i) * 3600)[0].best!
        }
        #expect(Set(bests).count > 1)
    }

    @Test func houseRulesAreConfigurable() {
        var c = PolicyConfiguration()
        c.setRetryDelay(3600, after: .noAnswer)
        c.includeReasons = false
        let p = ContactPolicy(configuration: c)
        let h = DebtorHistory(outcomes: [attempt("2026-11-30T14:00:00Z", .noAnswer)])
        let d = p.decide(for: person(), history: h, now: t("2026-11-30T14:30:00Z"))[0]
        #expect(d.earliest == t("2026-11-30T15:00:00Z"))
        #expect(d.reasons.isEmpty)
    }

    @Test func holidayOverrideFromFile() throws {
        let path = "/tmp/tagih-core-holidays-\(getpid()).tsv"
        try "2026-12-01\tpublic\tOperator day\n".write(toFile: path, atomically: true, encoding: .utf8)
        var c = PolicyConfiguration()
        c.holidayOverrides["ID"] = try HolidayCalendar.load(path: path)
        let p = ContactPolicy(configuration: c)
        let d = p.decide(for: person("ID", zone: "Asia/Jakarta", phones: [phone("+6281234567890")]),
                         history: DebtorHistory(), now: t("2026-12-01T03:00:00Z"))[0]
        #expect(d.earliest == t("2026-12-02T01:00:00Z"))
        // The override replaces the bundled calendar: 2026-08-17 is an ordinary day now.
        let e = p.decide(for: person("ID", zone: "Asia/Jakarta", phones: [phone("+6281234567890")]),
                         history: DebtorHistory(), now: t("2026-08-17T03:00:00Z"))[0]
        #expect(e.earliest == t("2026-08-17T03:00:00Z"))
    }

    @Test func candidateZones() {
        let p = policy
        #expect(Set(p.candidateZones(for: person("US-FL", zone: nil), phone: phone("+18505550100")))
                == ["America/New_York", "America/Chicago"])
        #expect(p.candidateZones(for: person("ID", zone: "Asia/Makassar"), phone: phone("+6281234567890"))
                == ["Asia/Makassar"])
        #expect(p.candidateZones(for: person("ID", zone: nil), phone: phone("+6281234567890")).count == 3)
    }
}

@Suite struct LeaseTests {
    @Test func leaseCountsAtOnceAndIsReplacedByItsOutcome() {
        var h = DebtorHistory(outcomes: dailyNoAnswers)
        h.recordLease("L-1", debtor: "D-1", debt: "A-1", phone: "+16175550100", at: t("2026-11-30T14:00:00Z"))
        // 6 no-answers + the lease = 7 counted: the debt is capped for today.
        #expect(decide(person(), h, at: "2026-11-30T19:00:00Z").earliest == t("2026-12-01T13:00:00Z"))
        // The outcome replaces the lease: a busy does not count, so the cap no longer binds.
        var busy = attempt("2026-11-30T14:01:00Z", .busy)
        busy.lease = "L-1"
        h.record(busy)
        #expect(h.unresolved.isEmpty)
        #expect(decide(person(), h, at: "2026-11-30T19:00:00Z").earliest == t("2026-11-30T19:00:00Z"))
    }

    @Test func expiredLeaseIsRecordedOnce() {
        var h = DebtorHistory()
        h.recordLease("L-2", debtor: "D-1", debt: "A-1", phone: "+16175550100", at: 100)
        h.recordExpiredLease(debtor: "D-1", debt: "A-1", phone: "+16175550100", at: 100, lease: "L-2")
        #expect(h.unresolved.count == 1)
    }

    @Test func hourOfWeekAndZoneNameFormatting() {
        #expect(policy.hourOfWeek(at: t("2026-11-30T14:05:00Z"), for: person()) == 9)
        #expect(policy.hourOfWeek(at: t("2026-11-30T04:05:00Z"), for: person()) == 6 * 24 + 23)
        #expect(RFC3339.format(t("2026-11-30T14:05:00Z"), zoneName: "America/New_York") == "2026-11-30T09:05:00-05:00")
        #expect(RFC3339.format(t("2026-11-30T14:05:00Z"), zoneName: nil) == "2026-11-30T14:05:00Z")
    }
}

/// Amounts near the 64-bit limit (possible through the engine's API, which does not apply the line decoder's
/// maximum, and in stores written before it) must not trap the decision: one such record would stop the server
/// at every start.
@Suite struct HugeAmountTests {
    @Test func paymentsWhoseSumPassesInt64SettleTheDebtInsteadOfTrapping() {
        var h = DebtorHistory()
        h.record(attempt("2026-11-20T15:00:00Z", .promiseToPay,
                         promise: PromiseTerms(amount: Money(tenThousandths: .max), due: "2026-11-23")))
        for k in 0..<3 {
            h.record(PaymentEvent(payment: "P\(k)", debtor: "D-1", debt: "A-1",
                                  amount: Money(tenThousandths: .max - 1), at: t("2026-11-21T15:00:00Z")))
        }
        for balance in [Int64(1), .max] {
            let d = decide(person(debts: [Debt(id: "A-1", balance: Money(tenThousandths: balance), currency: "USD")]),
                           h, at: "2026-12-01T15:00:00Z")
            #expect(d.earliest == nil, "balance \(balance): \(d.reasons)")
        }
    }
}
