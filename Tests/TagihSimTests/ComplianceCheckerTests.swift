import Foundation
import Testing
import TagihCore
@testable import TagihSim

/// The independent checker must catch what a regulator would: each case places calls and expects a count.
@Suite struct ComplianceCheckerTests {
    static func world(_ debtor: Debtor) -> World {
        World(debtors: [debtor], configuration: SimulationConfiguration(start: testStart))
    }

    static func debtor(_ jurisdiction: String = "US-NY", zone: String? = "America/New_York",
                       phone: Phone = Phone(number: "+12125550100", kind: .mobile, zone: "America/New_York"),
                       quiet: [QuietTime] = []) -> Debtor
    {
        Debtor(id: "D-1", jurisdiction: jurisdiction, zone: zone, phones: [phone],
               debts: [Debt(id: "A-1", balance: Money(tenThousandths: 1_000_000), currency: "USD")], quiet: quiet)
    }

    /// New York local time `hh:mm` on day `day` (0 = Tue 2026-12-01).
    static func ny(_ day: Int, _ hour: Int, _ minute: Int = 0) -> UnixSeconds {
        testStart + Int64(day) * 86_400 + Int64(hour) * 3600 + Int64(minute) * 60
    }

    static func run(_ debtor: Debtor, _ calls: [(UnixSeconds, Outcome)], callback: UnixSeconds? = nil) -> Int {
        let checker = ComplianceChecker(world: world(debtor))
        for (t, outcome) in calls {
            checker.check(debtor: 0, debt: 0, phone: 0, at: t)
            checker.record(debtor: 0, debt: 0, phone: 0, at: t, outcome: outcome,
                           callback: outcome == .callbackRequested ? callback : nil)
        }
        return checker.violations
    }

    /// The pipeline (the checker on its own queue) sees the same sequence as direct calls: same counts, same rules,
    /// also across several queued batches and with a settled debt.
    @Test func pipelineCountsWhatDirectCallsCount() {
        let w = Self.world(Self.debtor())
        let direct = ComplianceChecker(world: w)
        let pipeline = CheckerPipeline(world: w)
        let outcomes: [Outcome] = [.noAnswer, .busy, .voicemail, .rightParty, .noAnswer, .abandoned]
        for k in 0..<3000 {
            // Every 37 minutes around the clock: some calls fall outside the window, many break the caps.
            let t = Self.ny(0, 0) + Int64(k) * 37 * 60
            let outcome = outcomes[k % outcomes.count]
            direct.check(debtor: 0, debt: 0, phone: 0, at: t)
            pipeline.check(debtor: 0, debt: 0, phone: 0, at: t)
            direct.record(debtor: 0, debt: 0, phone: 0, at: t, outcome: outcome, callback: nil)
            pipeline.record(debtor: 0, debt: 0, phone: 0, at: t, outcome: outcome, callback: nil)
            if k == 2000 {
                direct.recordSettled(debt: 0)
                pipeline.recordSettled(debt: 0)
            }
        }
        let (violations, counted, byRule) = pipeline.result { ($0.violations, $0.countedCalls, $0.byRule) }
        #expect(direct.violations > 1000)
        #expect(violations == direct.violations)
        #expect(counted == direct.countedCalls)
        #expect(byRule == direct.byRule)
        #expect(byRule["debt already paid"] ?? 0 > 0)
    }

    @Test func legalCallsPass() {
        #expect(Self.run(Self.debtor(), [(Self.ny(0, 8), .noAnswer), (Self.ny(0, 20, 59), .noAnswer)]) == 0)
    }

    @Test(arguments: [(7, 59, 1), (21, 5, 1), (21, 0, 1), (12, 0, 0)])
    func windowEdges(hour: Int, minute: Int, expected: Int) {
        #expect(Self.run(Self.debtor(), [(Self.ny(0, hour, minute), .noAnswer)]) == expected)
    }

    @Test func pacificPhoneOnAnEasternAddressNarrowsTheWindow() {
        let d = Self.debtor(phone: Phone(number: "+14155550100", kind: .mobile, zone: nil))
        #expect(Self.run(d, [(Self.ny(0, 10), .noAnswer)]) == 1)  // 07:00 in Los Angeles
        #expect(Self.run(d, [(Self.ny(0, 11), .noAnswer)]) == 0)
    }

    @Test func eighthCallInSevenDays() {
        let seven = (0..<7).map { (Self.ny($0, 10), Outcome.noAnswer) }
        #expect(Self.run(Self.debtor(), seven) == 0)
        #expect(Self.run(Self.debtor(), seven + [(Self.ny(6, 15), .noAnswer)]) == 1)
        #expect(Self.run(Self.debtor(), seven + [(Self.ny(7, 10), .noAnswer)]) == 0)
        // Busy signals are not counted.
        let busy = (0..<9).map { (Self.ny(0, 9) + Int64($0) * 1800, Outcome.busy) }
        #expect(Self.run(Self.debtor(), busy) == 0)
    }

    @Test func conversationBlocksSevenDaysMondayToMonday() {
        let calls = [(Self.ny(0, 20, 55), Outcome.rightParty)]
        #expect(Self.run(Self.debtor(), calls + [(Self.ny(6, 12), .noAnswer)]) == 1)
        #expect(Self.run(Self.debtor(), calls + [(Self.ny(7, 8), .noAnswer)]) == 0)
    }

    @Test func consentedCallbackInsideTheBlock() {
        let cb = Self.ny(1, 15)
        let calls = [(Self.ny(0, 10), Outcome.callbackRequested)]
        #expect(Self.run(Self.debtor(), calls + [(cb + 600, .rightParty)], callback: cb) == 0)
        #expect(Self.run(Self.debtor(), calls + [(cb + 3 * 3600, .rightParty)], callback: cb) == 1)
    }

    @Test func stateAndCityCaps() {
        let ma = Self.debtor("US-MA", phone: Phone(number: "+16175550100", kind: .mobile, zone: "America/New_York"))
        #expect(Self.run(ma, [(Self.ny(0, 9), .noAnswer), (Self.ny(0, 14), .noAnswer)]) == 0)
        #expect(Self.run(ma, [(Self.ny(0, 9), .noAnswer), (Self.ny(0, 14), .noAnswer), (Self.ny(1, 9), .noAnswer)]) == 1)
        let wa = Self.debtor("US-WA", zone: "America/Los_Angeles",
                             phone: Phone(number: "+12065550100", kind: .mobile, zone: "America/Los_Angeles"))
        let waCalls = (0..<4).map { (Self.ny($0, 14), Outcome.voicemail) }
        #expect(Self.run(wa, waCalls) == 1)
        let nyc = Self.debtor("US-NY-NYC")
        let nycCalls = [(Self.ny(0, 9), Outcome.busy), (Self.ny(0, 10), .busy), (Self.ny(0, 11), .busy), (Self.ny(0, 12), .busy)]
        #expect(Self.run(nyc, nycCalls) == 1)
    }

    @Test func indonesiaSundayHolidayAndTimezone() {
        let d = Self.debtor("ID", zone: "Asia/Jayapura", phone: Phone(number: "+628123456789", kind: .mobile, zone: nil))
        // 2026-12-01 00:00 UTC = 09:00 WIT (Tuesday): legal.
        let tuesday = Int64(LocalTime.dayNumber(year: 2026, month: 12, day: 1)) * 86_400
        #expect(Self.run(d, [(tuesday, .noAnswer)]) == 0)
        // 12:30 UTC = 21:30 WIT: after 20:00.
        #expect(Self.run(d, [(tuesday + 12 * 3600 + 1800, .noAnswer)]) == 1)
        // Sunday 2026-12-06 and Christmas 2026-12-25 at 10:00 WIT.
        let sunday = Int64(LocalTime.dayNumber(year: 2026, month: 12, day: 6)) * 86_400 + 3600
        let christmas = Int64(LocalTime.dayNumber(year: 2026, month: 12, day: 25)) * 86_400 + 3600
        #expect(Self.run(d, [(sunday, .noAnswer)]) == 1)
        #expect(Self.run(d, [(christmas, .noAnswer)]) == 1)
    }

    @Test func hardStopsDeadNumbersQuietTimesAndGB() {
        #expect(Self.run(Self.debtor(), [(Self.ny(0, 9), .cease), (Self.ny(9, 9), .noAnswer)]) == 1)
        #expect(Self.run(Self.debtor(), [(Self.ny(0, 9), .wrongNumber), (Self.ny(1, 9), .noAnswer)]) == 1)
        #expect(Self.run(Self.debtor(), [(Self.ny(0, 9), .paid), (Self.ny(9, 9), .noAnswer)]) == 1)
        let quiet = Self.debtor(quiet: [QuietTime(days: [], fromMinute: 0, toMinute: 600)])
        #expect(Self.run(quiet, [(Self.ny(0, 9, 30), .noAnswer)]) == 1)
        #expect(Self.run(quiet, [(Self.ny(0, 10), .noAnswer)]) == 0)
        let gb = Self.debtor("GB", zone: "Europe/London", phone: Phone(number: "+447700900123", kind: .mobile))
        let london = testStart + 5 * 3600  // 10:00 London
        #expect(Self.run(gb, [(london, .abandoned), (london + 86_400, .noAnswer)]) == 1)
        #expect(Self.run(gb, [(london, .abandoned), (london + 3 * 86_400, .noAnswer)]) == 0)
    }
}
