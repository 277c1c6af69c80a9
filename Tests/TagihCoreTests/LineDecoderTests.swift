import Testing

@testable import TagihCore

@Suite struct LineDecoderTests {
    static let good = """
        {"id":"D-1","jurisdiction":"US-MA","zone":"America/New_York","status":"active","segment":"late",
         "phones":[{"number":"+16175550100","kind":"mobile","zone":"America/New_York","owner":"debtor"}],
         "debts":[{"id":"A-1","balance":"1250.00","currency":"USD"}],
         "quiet":[{"days":["sun"],"from":"00:00","to":"24:00"}]}
        """

    @Test func decodesTheDesignExample() throws {
        let d = try LineDecoder.debtor(from: Self.good)
        #expect(d.warnings.isEmpty)
        #expect(d.value == Debtor(id: "D-1", jurisdiction: "US-MA", zone: "America/New_York", status: .active,
                                  segment: "late",
                                  phones: [Phone(number: "+16175550100", kind: .mobile, zone: "America/New_York")],
                                  debts: [Debt(id: "A-1", balance: Money(tenThousandths: 12_500_000), currency: "USD")],
                                  quiet: [QuietTime(days: [7], fromMinute: 0, toMinute: 1440)]))
    }

    struct Bad: Sendable, CustomTestStringConvertible {
        var line: String
        var code: String
        var field: String
        var contains: String
        var testDescription: String { "\(field) \(code)" }
    }

    static let bad: [Bad] = [
        Bad(line: #"{"id":"D","jurisdiction":"US","zone":"Mars/Olympus","debts":[]}"#, code: "unknown_zone",
            field: "zone", contains: "unknown IANA time zone 'Mars/Olympus'"),
        Bad(line: #"{"id":"D","jurisdiction":"US","debts":[{"id":"A","balance":"-1","currency":"USD"}]}"#,
            code: "invalid_money", field: "debts[0].balance", contains: "negative"),
        Bad(line: #"{"id":"D","jurisdiction":"US","debts":[{"id":"A","balance":-1,"currency":"USD"}]}"#,
            code: "invalid_money", field: "debts[0].balance", contains: "negative"),
        Bad(line: #"{"id":"D","jurisdiction":"US","debts":[{"id":"A","balance":"12,50","currency":"USD"}]}"#,
            code: "invalid_money", field: "debts[0].balance", contains: "decimal"),
        Bad(line: #"{"id":"D","jurisdiction":"US","debts":[{"id":"A","balance":1e3,"currency":"USD"}]}"#,
            code: "invalid_money", field: "debts[0].balance", contains: "decimal"),
        Bad(line: #"{"id":"D","jurisdiction":"US","debts":[{"id":"A","balance":true,"currency":"USD"}]}"#,
            code: "wrong_type", field: "debts[0].balance", contains: "found a boolean"),
        Bad(line: #"{"id":"D","jurisdiction":"US","debts":[{"id":"A","balance":"1","currency":"usd"}]}"#,
            code: "invalid_value", field: "debts[0].currency", contains: "ISO 4217"),
        // Three capitals that are no currency (a typo of USD), and a unit that is not money owed.
        Bad(line: #"{"id":"D","jurisdiction":"US","debts":[{"id":"A","balance":"1","currency":"UDS"}]}"#,
            code: "invalid_value", field: "debts[0].currency", contains: "'UDS' is not an ISO 4217 currency code"),
        Bad(line: #"{"id":"D","jurisdiction":"US","debts":[{"id":"A","balance":"1","currency":"XAU"}]}"#,
            code: "invalid_value", field: "debts[0].currency", contains: "ISO 4217"),
        Bad(line: #"{"id":"D","jurisdiction":"US","phones":[{"number":"+16175550100"},{"number":"+16175550101"},{"number":"+16175550100","kind":"home"}],"debts":[]}"#,
            code: "duplicate_value", field: "phones[2].number", contains: "already listed as phones[0]"),
        Bad(line: #"{"id":"D","jurisdiction":"US","debts":[{"id":"A","balance":"1","currency":"USD"},{"id":"A","balance":"2","currency":"USD"}]}"#,
            code: "duplicate_value", field: "debts[1].id", contains: "already used by debts[0]"),
        Bad(line: #"{"id":"D","jurisdiction":"US","status":"gone","debts":[]}"#, code: "unknown_value",
            field: "status", contains: "allowed: active, cease, attorney, bankruptcy, deceased"),
        Bad(line: #"{"id":"D","jurisdiction":"US","phones":[{"number":"+1617","kind":"pager"}],"debts":[]}"#,
            code: "invalid_value", field: "phones[0].number", contains: "E.164"),
        Bad(line: #"{"id":"D","jurisdiction":"US","phones":[{"number":"+16175550100","kind":"pager"}],"debts":[]}"#,
            code: "unknown_value", field: "phones[0].kind", contains: "allowed: mobile, home, work, other"),
        Bad(line: #"{"id":"D","jurisdiction":"US","phones":[{"number":"+16175550100","owner":"friend"}],"debts":[]}"#,
            code: "unknown_value", field: "phones[0].owner", contains: "third_party"),
        Bad(line: #"{"id":"D","jurisdiction":"US","quiet":[{"days":["sunday"]}],"debts":[]}"#,
            code: "unknown_value", field: "quiet[0].days[0]", contains: "mon, tue"),
        Bad(line: #"{"id":"D","jurisdiction":"US","quiet":[{"from":"10:00","to":"09:00"}],"debts":[]}"#,
            code: "invalid_value", field: "quiet[0].to", contains: "later"),
        Bad(line: #"{"id":"D","jurisdiction":"US","quiet":[{"from":"25:00"}],"debts":[]}"#,
            code: "invalid_value", field: "quiet[0].from", contains: "HH:MM"),
        Bad(line: #"{"jurisdiction":"US","debts":[]}"#, code: "missing_field", field: "id", contains: "missing"),
        Bad(line: #"{"id":"D","jurisdiction":"usa","debts":[]}"#, code: "invalid_value", field: "jurisdiction",
            contains: "ISO 3166"),
        Bad(line: #"{"id":"D","jurisdiction":"US"}"#, code: "missing_field", field: "debts", contains: "missing"),
        Bad(line: #"{"id":7,"jurisdiction":"US","debts":[]}"#, code: "wrong_type", field: "id",
            contains: "expected a string, found a number"),
        Bad(line: #"[1,2]"#, code: "wrong_type", field: "", contains: "expected a JSON object"),
        Bad(line: #"{"id":"D",}"#, code: "invalid_json", field: "", contains: "byte 11"),
        Bad(line: #"{"id":"D","jurisdiction":"US","id":"E","debts":[]}"#, code: "duplicate_key", field: "id",
            contains: #"duplicate key: 'id' appears 2 times in this object ("D", "E")"#),
        Bad(line: #"{"id":"D","jurisdiction":"US","debts":[{"id":"A","balance":"1","currency":"USD","balance":"900"}]}"#,
            code: "duplicate_key", field: "debts[0].balance", contains: "'balance' appears 2 times"),
        Bad(line: #"{"id":"D","jurisdiction":"US","phones":[{"number":"+16175550100","optedOut":true,"optedOut":false}],"debts":[]}"#,
            code: "duplicate_key", field: "phones[0].optedOut", contains: "(true, false)"),
        Bad(line: #"{"id":"D","jurisdiction":"US","debts":[],"quiet":[{"from":"09:00","from":"10:00","from":"11:00"}]}"#,
            code: "duplicate_key", field: "quiet[0].from", contains: "appears 3 times"),
        // Same decoded name, spelled differently.
        Bad(line: #"{"id":"D","jurisdiction":"US","debts":[],"id":"E"}"#, code: "duplicate_key", field: "id",
            contains: "'id' appears 2 times"),
        Bad(line: #"{"id":"D\u00"}"#, code: "invalid_json", field: "", contains: "escape"),
    ]

    @Test(arguments: bad)
    func rejects(_ b: Bad) {
        #expect {
            _ = try LineDecoder.debtor(from: b.line)
        } throws: { error in
            guard let e = error as? RecordError else { return false }
            return e.code == b.code && e.field == b.field && e.message.contains(b.contains)
        }
    }

    /// Bytes that are not UTF-8 inside a string are refused, never decoded to U+FFFD: two ids that differ only in
    /// such bytes would otherwise become one debtor, the second line overwriting the first.
    @Test(arguments: [
        ([0xFF], 0), ([0xC3], 0), ([0xED, 0xA0, 0x80], 0), ([0x41, 0xE2, 0x82], 1), ([0xC0, 0xAF], 0),
    ] as [([UInt8], Int)])
    func invalidUTF8InAStringIsRefused(bad: [UInt8], firstBad: Int) throws {
        for escape in ["", #"\u0041"#] {
            // `{"id":"Z-` is 9 bytes; the escape (the slow path) adds its 6.
            let prefix = Array(#"{"id":"Z-"#.utf8) + Array(escape.utf8)
            let line = prefix + bad + Array(#"","jurisdiction":"US","debts":[]}"#.utf8)
            let at = prefix.count + firstBad + 1
            #expect(throws: RecordError(
                code: "invalid_json", field: "",
                message: "invalid JSON at byte \(at): a string that is not valid UTF-8 (byte 0x"
                    + String(line[at - 1], radix: 16, uppercase: true) + ")")
            ) { try LineDecoder.debtor(from: line) }
        }
        // Valid UTF-8 of 2, 3 and 4 bytes still decodes, with and without escapes.
        for (text, id) in [("Z-é", "Z-é"), ("Z-€", "Z-€"), ("Z-😀", "Z-😀"), (#"Z-é\u00e9"#, "Z-éé")] {
            let line = Array(#"{"id":""#.utf8) + Array(text.utf8) + Array(#"","jurisdiction":"US","debts":[]}"#.utf8)
            #expect(try LineDecoder.debtor(from: line).value.id == id)
        }
    }

    /// A line's `type`, when given, must be its own: an outcome sent as `"type":"ready"` is refused, not applied.
    @Test func aLineOfAnotherTypeIsRefused() throws {
        let outcome = #"{"attempt":"T-1","debtor":"D","debt":"A","phone":"+12125550100","at":"2026-12-01T15:00:00Z","outcome":"busy""#
        #expect(try LineDecoder.outcome(from: outcome + "}").value.attempt == "T-1")
        #expect(try LineDecoder.outcome(from: outcome + #","type":"outcome"}"#).value.attempt == "T-1")
        #expect(throws: RecordError(
            code: "invalid_value", field: "type",
            message: #"'type' is "ready" but this endpoint takes outcome lines: omit 'type' or give "outcome""#)
        ) { try LineDecoder.outcome(from: outcome + #","type":"ready"}"#) }
        #expect(throws: RecordError(
            code: "wrong_type", field: "type", message: #"'type' must be the string "outcome", found a number"#)
        ) { try LineDecoder.outcome(from: outcome + #","type":1}"#) }
        let payment = #"{"payment":"P-1","debtor":"D","debt":"A","amount":"5","currency":"USD","at":"2026-12-01T15:00:00Z""#
        #expect(try LineDecoder.payment(from: payment + #","type":"payment"}"#).value.payment == "P-1")
        #expect(throws: RecordError.self) { try LineDecoder.payment(from: payment + #","type":"outcome"}"#) }
        #expect(throws: RecordError.self) { try LineDecoder.debtor(from: #"{"id":"D","jurisdiction":"US","debts":[],"type":"outcome"}"#) }
    }

    /// Fixed-offset zones are refused: the window follows the place's daylight saving time.
    @Test(arguments: ["EST", "Etc/GMT+5", "UTC", "Etc/UTC", "GMT"])
    func aFixedOffsetZoneIsRefused(zone: String) throws {
        #expect(throws: RecordError(
            code: "unknown_zone", field: "zone",
            message: "'\(zone)' is a fixed offset, not a place: give the IANA zone of the place (such as "
                + "America/New_York), whose daylight saving time the calling window follows")
        ) { try LineDecoder.debtor(from: #"{"id":"D","jurisdiction":"US","zone":"\#(zone)","debts":[]}"#) }
        #expect(throws: RecordError.self) {
            try LineDecoder.debtor(from: #"{"id":"D","jurisdiction":"US","phones":[{"number":"+12125550100","zone":"\#(zone)"}],"debts":[]}"#)
        }
        #expect(try LineDecoder.debtor(from: #"{"id":"D","jurisdiction":"US","zone":"America/Phoenix","debts":[]}"#).value.zone == "America/Phoenix")
    }

    /// More than 255 phones, debts or quiet times: refused naming the list (was a fieldless `invalid_record`).
    @Test func tooManyEntriesNameTheirList() throws {
        let debts = (0..<256).map { #"{"id":"A-\#($0)","balance":"1","currency":"USD"}"# }.joined(separator: ",")
        #expect(throws: RecordError(
            code: "out_of_range", field: "debts", message: "256 entries; a debtor lists at most 255 debts")
        ) { try LineDecoder.debtor(from: #"{"id":"D","jurisdiction":"US","debts":[\#(debts)]}"#) }
        let phones = (0..<300).map { #"{"number":"+1212555\#(String(format: "%04d", $0))"}"# }.joined(separator: ",")
        #expect(throws: RecordError(
            code: "out_of_range", field: "phones", message: "300 entries; a debtor lists at most 255 phones")
        ) { try LineDecoder.debtor(from: #"{"id":"D","jurisdiction":"US","phones":[\#(phones)],"debts":[]}"#) }
        let ok = (0..<255).map { #"{"id":"A-\#($0)","balance":"1","currency":"USD"}"# }.joined(separator: ",")
        #expect(try LineDecoder.debtor(from: #"{"id":"D","jurisdiction":"US","debts":[\#(ok)]}"#).value.debts.count == 255)
    }

    @Test func unknownFieldsAreWarnings() throws {
        let d = try LineDecoder.debtor(from: #"{"id":"D","jurisdiction":"US","x":1,"debts":[{"id":"A","balance":5,"currency":"USD","y":2}]}"#)
        #expect(d.warnings.map(\.description) == ["x: unknown field (ignored)", "debts[0].y: unknown field (ignored)"])
        #expect(d.value.debts[0].balance == Money(decimal: "5"))
    }

    /// A jurisdiction without a pack of its own nor its country's is accepted under the default pack, with a
    /// `no_rule_pack` warning; a sub-region of a country with a pack (`US-TX`) is not warned about.
    @Test(arguments: [("UX", true), ("FR", true), ("FR-75", true), ("US-TX", false), ("US-NY-NYC", false), ("GB", false),
                      ("IN", false), ("ID", false)])
    func jurisdictionsWithoutAPackAreWarnings(code: String, warned: Bool) throws {
        let d = try LineDecoder.debtor(from: Array(#"{"id":"D","jurisdiction":"\#(code)","debts":[{"id":"A","balance":5,"currency":"USD"}]}"#.utf8))
        #expect(d.warnings.map(\.code) == (warned ? ["no_rule_pack"] : []), "\(code)")
        #expect(d.warnings.allSatisfy { $0.field == "jurisdiction" && $0.message.contains("'\(code)'") })
        #expect(d.value.jurisdiction == code)
    }

    /// Every amount of line protocol v1 (balance, payment amount, promise amount) says precisely what is wrong.
    @Test(arguments: [
        ("\"-0\"", "'-0' has a minus sign; amounts are written without a sign (zero is \"0\")"),
        ("\"-0.00\"", "'-0.00' has a minus sign"),
        ("-0", "'-0' has a minus sign"),
        ("-0.0", "'-0.0' has a minus sign"),
        ("\"-5\"", "'-5' is negative; amounts must be ≥ 0"),
        ("-0.01", "'-0.01' is negative"),
        ("\"+5\"", "'+5' has a plus sign"),
        ("1e3", "'1e3' has an exponent"),
        ("-1E-2", "'-1E-2' has an exponent"),
        ("\"12,50\"", "'12,50' contains ','"),
        ("\"$5\"", "'$5' contains '$'"),
        ("\"1 000\"", "'1 000' contains U+20"),
        ("\"\"", "the amount is empty"),
        ("\".5\"", "'.5' needs digits on both sides of the '.'"),
        ("\"5.\"", "'5.' needs digits on both sides"),
        ("\"1.2.3\"", "'1.2.3' has more than one '.'"),
        ("\"1.23456\"", "'1.23456' has 5 decimal places; at most 4"),
        ("1.23456", "'1.23456' has 5 decimal places; at most 4"),
        ("\"1000000000000.0001\"", "'1000000000000.0001' is larger than the maximum 1000000000000"),
        ("\"1000000000001\"", "is larger than the maximum 1000000000000"),
        ("\"922337203685477.9999\"", "is larger than the maximum 1000000000000"),
        ("99999999999999999999999999", "is larger than the maximum 1000000000000"),
    ])
    func amountsSayWhatIsWrong(json: String, message: String) {
        let lines = [
            ("debts[0].balance", #"{"id":"D","jurisdiction":"US","debts":[{"id":"A","balance":"# + json + #","currency":"USD"}]}"#),
            ("amount", #"{"payment":"P","debtor":"D","debt":"A","amount":"# + json + #","at":"2026-11-30T14:05:00Z"}"#),
            ("promise.amount", #"{"attempt":"x","debtor":"D","debt":"A","phone":"+16175550100","at":"2026-11-30T14:05:00Z","outcome":"promise_to_pay","promise":{"amount":"# + json + #","due":"2026-12-05"}}"#),
        ]
        for (field, line) in lines {
            #expect {
                switch field {
                case "debts[0].balance": _ = try LineDecoder.debtor(from: line)
                case "amount": _ = try LineDecoder.payment(from: line)
                default: _ = try LineDecoder.outcome(from: line)
                }
            } throws: { error in
                guard let e = error as? RecordError else { return false }
                return e.code == "invalid_money" && e.field == field && e.message == message
                    || (e.code == "invalid_money" && e.field == field && e.message.contains(message))
            }
        }
    }

    @Test func amountsUpToTheMaximumAreExact() throws {
        for (text, tenThousandths) in [("1000000000000", Int64(10_000_000_000_000_000)),
                                       ("0001000000000000.0000", 10_000_000_000_000_000), ("0", 0), ("0.0001", 1),
                                       ("999999999999.9999", 9_999_999_999_999_999)] {
            let d = try LineDecoder.debtor(from: #"{"id":"D","jurisdiction":"US","debts":[{"id":"A","balance":""# + text
                + #"","currency":"USD"}]}"#)
            #expect(d.value.debts[0].balance.tenThousandths == tenThousandths, "\(text)")
        }
        // Past Int64: no trap, just no value.
        #expect(Money(decimal: "922337203685477.9999") == nil)
        #expect(Money(decimal: "922337203685477.5807")?.tenThousandths == Int64.max)
    }

    @Test func moneyAsNumberIsExact() throws {
        let d = try LineDecoder.debtor(from: #"{"id":"D","jurisdiction":"US","debts":[{"id":"A","balance":0.1,"currency":"USD"},{"id":"B","balance":"1250.0001","currency":"USD"}]}"#)
        #expect(d.value.debts[0].balance.tenThousandths == 1000)
        #expect(d.value.debts[1].balance.tenThousandths == 12_500_001)
    }

    @Test func outcomes() throws {
        let o = try LineDecoder.outcome(from: #"{"attempt":"c0ffee-1","debtor":"D-1","debt":"A-1","phone":"+16175550100","at":"2026-11-30T09:05:00-05:00","outcome":"promise_to_pay","lease":"L-9","promise":{"amount":"100.00","due":"2026-12-05"}}"#)
        #expect(o.value.at == t("2026-11-30T14:05:00Z"))
        #expect(o.value.promise == PromiseTerms(amount: Money(decimal: "100")!, due: "2026-12-05"))
        #expect(o.value.lease == "L-9")
        // A promise due on the day before the call's UTC date (the debtor's local date may be) and one a year after.
        for due in ["2026-11-29", "2027-12-01"] {
            let edge = try LineDecoder.outcome(from: #"{"attempt":"e","debtor":"D","debt":"A","phone":"+1","at":"2026-11-30T14:05:00Z","outcome":"promise_to_pay","promise":{"amount":"1","due":"\#(due)"}}"#)
            #expect(edge.value.promise?.due == due)
        }
        let cb = try LineDecoder.outcome(from: #"{"attempt":"x","debtor":"D","debt":"A","phone":"+16175550100","at":"2026-11-30T14:05:00Z","outcome":"callback_requested","callbackAt":"2026-12-01T15:00:00+00:00"}"#)
        #expect(cb.value.callbackAt == t("2026-12-01T15:00:00Z"))
        #expect(cb.warnings.isEmpty)
        // A promise or a callback time on an outcome that does not read it: accepted, with a warning.
        let stray = try LineDecoder.outcome(from: #"{"attempt":"x","debtor":"D","debt":"A","phone":"+16175550100","at":"2026-11-30T14:05:00Z","outcome":"no_answer","callbackAt":"2026-12-01T15:00:00Z","promise":{"amount":"1","due":"2026-12-05"}}"#)
        #expect(stray.warnings.map(\.code) == ["ignored_field", "ignored_field"], "\(stray.warnings)")
        #expect(stray.warnings.map(\.field) == ["promise", "callbackAt"])
        #expect(stray.warnings[0].message.contains("with no_answer it is ignored"))
        let cases: [(String, String, String)] = [
            (#"{"attempt":"x","debtor":"D","debt":"A","phone":"+1","at":"2026-11-30T14:05:00","outcome":"busy"}"#,
             "at", "RFC 3339"),
            (#"{"attempt":"x","debtor":"D","debt":"A","phone":"+1","at":"2026-11-30T14:05:00Z","outcome":"ok"}"#,
             "outcome", "allowed: busy, not_in_service"),
            (#"{"attempt":"x","debtor":"D","debt":"A","phone":"+1","at":"2026-11-30T14:05:00Z","outcome":"promise_to_pay"}"#,
             "promise", "required when outcome is promise_to_pay"),
            (#"{"attempt":"x","debtor":"D","debt":"A","phone":"+1","at":"2026-11-30T14:05:00Z","outcome":"promise_to_pay","promise":{"amount":"1","due":"2026-13-01"}}"#,
             "promise.due", "YYYY-MM-DD"),
            (#"{"debtor":"D","debt":"A","phone":"+1","at":"2026-11-30T14:05:00Z","outcome":"busy"}"#,
             "attempt", "missing"),
            (#"{"attempt":"x","debtor":"a","debt":"A","phone":"+1","at":"2026-11-30T14:05:00Z","outcome":"busy","debtor":"b"}"#,
             "debtor", #"duplicate key: 'debtor' appears 2 times in this object ("a", "b")"#),
            (#"{"attempt":"x","debtor":"D","debt":"A","phone":"+1","at":"2026-11-30T14:05:00Z","outcome":"promise_to_pay","promise":{"amount":"1","due":"2026-12-01","amount":"100"}}"#,
             "promise.amount", "duplicate key"),
            // Plausibility: a mistyped year would hold the debt for decades, or print a 5-digit year.
            (#"{"attempt":"x","debtor":"D","debt":"A","phone":"+1","at":"2026-11-30T14:05:00Z","outcome":"promise_to_pay","promise":{"amount":"1","due":"9999-12-31"}}"#,
             "promise.due", "more than 366 days after the call"),
            (#"{"attempt":"x","debtor":"D","debt":"A","phone":"+1","at":"2026-11-30T14:05:00Z","outcome":"promise_to_pay","promise":{"amount":"1","due":"2025-11-30"}}"#,
             "promise.due", "before the call"),
            (#"{"attempt":"x","debtor":"D","debt":"A","phone":"+1","at":"2026-11-30T14:05:00Z","outcome":"callback_requested","callbackAt":"9999-12-31T23:59:59Z"}"#,
             "callbackAt", "more than 366 days after the call"),
            (#"{"attempt":"x","debtor":"D","debt":"A","phone":"+1","at":"1970-01-01T00:00:00Z","outcome":"busy"}"#,
             "at", "before 2000-01-01"),
            (#"{"attempt":"x","debtor":"D","debt":"A","phone":"+1","at":"0001-01-01T00:00:00Z","outcome":"busy"}"#,
             "at", "before 2000-01-01"),
        ]
        for (line, field, why) in cases {
            #expect {
                _ = try LineDecoder.outcome(from: line)
            } throws: { e in
                guard let e = e as? RecordError else { return false }
                return e.field == field && e.message.contains(why)
            }
        }
    }

    @Test func payments() throws {
        let p = try LineDecoder.payment(from: #"{"payment":"P-1","debtor":"D-1","debt":"A-1","amount":"100.50","at":"2026-11-30T14:05:00Z"}"#)
        #expect(p.value.amount.tenThousandths == 1_005_000)
        #expect {
            _ = try LineDecoder.payment(from: #"{"payment":"P-1","debtor":"D-1","debt":"A-1","amount":"1","at":"1970-01-01T00:00:00Z"}"#)
        } throws: { e in
            (e as? RecordError).map { $0.code == "invalid_time" && $0.field == "at" } ?? false
        }
        #expect(throws: RecordError.self) {
            _ = try LineDecoder.payment(from: #"{"payment":"P-1","debtor":"D-1","debt":"A-1","amount":"abc","at":"2026-11-30T14:05:00Z"}"#)
        }
        #expect {
            _ = try LineDecoder.payment(from: #"{"payment":"P-1","debtor":"D-1","debt":"A-1","amount":"1","amount":"1000","at":"2026-11-30T14:05:00Z"}"#)
        } throws: { e in
            (e as? RecordError).map { $0.code == "duplicate_key" && $0.field == "amount" } ?? false
        }
        // A repeated key inside an unknown (ignored) member is not the record's business.
        let nested = try LineDecoder.payment(from: #"{"payment":"P-1","debtor":"D-1","debt":"A-1","amount":"1","at":"2026-11-30T14:05:00Z","meta":{"k":1,"k":2}}"#)
        #expect(nested.warnings.map(\.field) == ["meta"])
    }

    /// Every id field of every input line: at most `LineDecoder.maxIDBytes` (255) bytes of UTF-8 (bytes, not
    /// characters), no control characters; the error names the field. (proto-docs/README.md, Conventions.)
    @Test(arguments: ["debtor.id", "debtor.debts[0].id", "outcome.attempt", "outcome.debtor", "outcome.debt",
                      "payment.payment", "payment.debtor", "payment.debt", "clearance.clearance",
                      "clearance.debtor", "clearance.debt"])
    func idsAreAtMost255BytesOfUTF8(_ where: String) throws {
        let kind = String(`where`.prefix(while: { $0 != "." }))
        let field = String(`where`.dropFirst(kind.count + 1))
        func line(_ id: String) -> String {
            let q = JSONWriter.quoted(id)
            func pick(_ name: String, _ fallback: String) -> String { field == name ? q : "\"\(fallback)\"" }
            switch kind {
            case "debtor":
                return #"{"id":"# + pick("id", "D") + #","jurisdiction":"US","debts":[{"id":"#
                    + pick("debts[0].id", "A") + #","balance":"1","currency":"USD"}]}"#
            case "outcome":
                return #"{"attempt":"# + pick("attempt", "x") + #","debtor":"# + pick("debtor", "D") + #","debt":"#
                    + pick("debt", "A") + #","phone":"+16175550100","at":"2026-11-30T14:05:00Z","outcome":"busy"}"#
            case "payment":
                return #"{"payment":"# + pick("payment", "P") + #","debtor":"# + pick("debtor", "D") + #","debt":"#
                    + pick("debt", "A") + #","amount":"1","at":"2026-11-30T14:05:00Z"}"#
            default:
                return #"{"clearance":"# + pick("clearance", "C") + #","debtor":"# + pick("debtor", "D")
                    + #","clears":"dispute","debt":"# + pick("debt", "A") + #","by":"ops"}"#
            }
        }
        func decode(_ id: String) throws(RecordError) {
            let bytes = Array(line(id).utf8)
            switch kind {
            case "debtor": _ = try LineDecoder.debtor(from: bytes)
            case "outcome": _ = try LineDecoder.outcome(from: bytes)
            case "payment": _ = try LineDecoder.payment(from: bytes)
            default: _ = try LineDecoder.clearance(from: bytes)
            }
        }
        // 255 bytes: accepted, ASCII or not (85 three-byte characters).
        try decode(String(repeating: "x", count: 255))
        try decode(String(repeating: "€", count: 85))
        // 256 bytes: rejected, whether 256 ASCII characters or 128 two-byte characters.
        for (id, characters) in [(String(repeating: "x", count: 256), 256), (String(repeating: "é", count: 128), 128)] {
            #expect(id.utf8.count == 256)
            #expect {
                try decode(id)
            } throws: { error in
                guard let e = error as? RecordError else { return false }
                return e.code == "invalid_value" && e.field == field
                    && e.message.contains("256 bytes long in UTF-8 (\(characters) characters)")
                    && e.message.contains("at most 255 bytes")
            }
        }
        #expect {
            try decode("a\u{7F}b")
        } throws: { error in
            (error as? RecordError).map { $0.field == field && $0.message.contains("control character") } ?? false
        }
    }

    @Test func jsonParserEdgeCases() throws {
        #expect(try JSONValue.parse(#"{"a":"\u00e9\ud83d\ude00\n","b":[true,false,null,-0.5e+3]}"#)
                == .object([("a", .string("é😀\n")), ("b", .array([.bool(true), .bool(false), .null, .number("-0.5e+3")]))]))
        for bad in ["", "{", "[1,]", "01", "\"a", "{\"a\" 1}", "tru", "1 2", "\"\u{01}\""] {
            #expect(throws: RecordError.self) { _ = try JSONValue.parse(bad) }
        }
        #expect(JSONWriter.quoted("a\"b\\\n\u{01}") == #""a\"b\\\n\u0001""#)
    }
}
