public import TagihCore

/// Writes outcome events as line protocol v1 outcome lines (one JSON object, no newline).
public enum OutcomeLine {
    /// The JSON text of `event`, for example
    /// `{"attempt":"c1-9","debtor":"D-1","debt":"A-1-1","phone":"+16175550100","at":"2026-11-30T14:05:00Z","outcome":"promise_to_pay","promise":{"amount":"100.00","due":"2026-12-05"}}`.
    public static func encode(_ event: OutcomeEvent) -> String {
        var s = "{\"attempt\":"
        s.reserveCapacity(200)
        appendString(event.attempt, to: &s)
        s += ",\"debtor\":"
        appendString(event.debtor, to: &s)
        s += ",\"debt\":"
        appendString(event.debt, to: &s)
        s += ",\"phone\":"
        appendString(event.phone, to: &s)
        s += ",\"at\":\""
        s += LocalTime.rfc3339(event.at)
        s += "\",\"outcome\":\""
        s += event.outcome.rawValue
        s += "\""
        if let lease = event.lease {
            s += ",\"lease\":"
            appendString(lease, to: &s)
        }
        if let p = event.promise {
            s += ",\"promise\":{\"amount\":\""
            s += p.amount.description
            s += "\",\"due\":"
            appendString(p.due, to: &s)
            s += "}"
        }
        if let cb = event.callbackAt {
            s += ",\"callbackAt\":\""
            s += LocalTime.rfc3339(cb)
            s += "\""
        }
        s += "}"
        return s
    }

    static func appendString(_ value: String, to s: inout String) {
        s += JSONWriter.quoted(value)
    }
}
