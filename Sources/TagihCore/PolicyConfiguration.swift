/// Operator house rules and model settings layered on top of the legal rule packs. Every field has a
/// documented default; stricter values are always allowed, the legal packs are never relaxed by it.
public struct PolicyConfiguration: Sendable {
    /// Minimum delay before the next call to the debtor after an outcome, in seconds, indexed by
    /// `Outcome.index`. Defaults: `busy` 30 min; `no_answer`, `voicemail`, `abandoned`, `third_party` 4 h;
    /// everything else 0 (conversations are governed by the block, holds and caps).
    public var retryDelaySeconds: [Int64]
    /// Counted attempts to one debtor per local day (primary zone). Default 3.
    public var maxAttemptsPerDay: Int = 3
    /// Minimum gap between any two attempts to the same debtor, seconds. Default 900 (15 min).
    public var minimumGapSeconds: Int64 = 900
    /// Voicemail messages per debtor per local day. Default 1: after it, no more calls that day.
    public var voicemailsPerDay: Int = 1
    /// Busy retries per phone per local day. Default 3: after the 3rd busy, that phone waits for the next day.
    public var busyRetriesPerPhonePerDay: Int = 3
    /// Days after a promise's due date before it is judged kept or broken. Default 2.
    public var promiseGraceDays: Int = 2
    /// House cap of counted calls per debt in 7 consecutive local days, applied in every jurisdiction (the
    /// stricter of this and the legal pack wins). Default 7; nil = none.
    public var houseCountedPerDebtPer7Days: Int? = 7
    /// Whether jurisdictions whose law has no conversation block (`GB`, `ID`, `IN`, the conservative default) get
    /// the US one as a house rule: no call about a debt on the local day of a conversation about it (a right-party
    /// contact, a refusal, a callback request, …) nor the 6 days after; a consented callback is exempt, as in the
    /// US. DOMAIN.md's house default after a conversation is "no earlier than the block allows". Default true;
    /// false leaves only the legal block (US packs), the 15-minute gap and the daily cap between conversations.
    public var houseConversationBlock: Bool = true
    /// How far ahead `best` looks, seconds. Default 7 days.
    public var horizonSeconds: Int64 = 7 * 86_400
    /// Discount per hour of delay (γ in DOMAIN.md). Default 0.99.
    public var discountPerHour: Double = 0.99
    /// A consented callback may be placed in [callbackAt, callbackAt + this], seconds. Default 7200.
    public var callbackWindowSeconds: Int64 = 7200
    /// A callback is consented only when `callbackAt` is within this of the request, seconds. Default 7 days.
    public var callbackValiditySeconds: Int64 = 7 * 86_400
    /// Whether collective-leave days (cuti bersama) are never-call days under `ID`. Default true (conservative).
    public var blockCollectiveLeave: Bool = true
    /// Operator holiday calendars by ISO country code, replacing the bundled ones (e.g. loaded with
    /// `HolidayCalendar.load(path:)`). Default empty (the bundled calendars apply).
    public var holidayOverrides: [String: HolidayCalendar] = [:]
    /// The contact-propensity model. Default `PropensityModel()`.
    public var propensity: PropensityModel = PropensityModel()
    /// Whether decisions carry human-readable reasons. Default true; the engine may turn it off for speed.
    public var includeReasons: Bool = true

    /// The documented defaults.
    public init() {
        var r = [Int64](repeating: 0, count: Outcome.allCases.count)
        r[Outcome.busy.index] = 1800
        for o in [Outcome.noAnswer, .voicemail, .abandoned, .thirdParty] { r[o.index] = 4 * 3600 }
        retryDelaySeconds = r
    }

    /// The retry delay after `outcome`, seconds.
    public func retryDelay(after outcome: Outcome) -> Int64 { retryDelaySeconds[outcome.index] }

    /// Sets the retry delay after `outcome`, seconds.
    public mutating func setRetryDelay(_ seconds: Int64, after outcome: Outcome) {
        retryDelaySeconds[outcome.index] = seconds
    }
}

/// Beta-binomial contact propensity per hour-of-week bucket (168 buckets, Monday 00 = 0, local time of the
/// debtor's primary zone), shrunk toward a segment prior: `p̂ = (rpc + κ·p_seg[h]) / (attempts + κ)`.
public struct PropensityModel: Sendable {
    /// Pseudo-attempts of the segment prior (κ). Default 15.
    public var kappa: Double = 15
    /// Prior RPC-per-dial curves by segment name (168 values). Defaults: `early` (mean 6 %), `late` (1 %).
    public var segmentCurves: [String: [Double]]
    /// The curve for a debtor without (or with an unknown) segment. Default mean 3 %.
    public var defaultCurve: [Double]
    /// Multiplier per unanswered attempt within `fatigueWindowSeconds`. Default 0.85.
    public var fatiguePerUnanswered: Double = 0.85
    /// The fatigue look-back, seconds. Default 7 days.
    public var fatigueWindowSeconds: Int64 = 7 * 86_400
    /// Extra multiplier per recent unanswered attempt in the same bucket (prefer another bucket). Default 0.7.
    public var sameBucketPenalty: Double = 0.7
    /// P(PTP | RPC). Default 0.3.
    public var ptpGivenRPC: Double = 0.3
    /// P(kept) for a first promise. Default 0.55.
    public var keptProbability: Double = 0.55
    /// P(kept) multiplier per broken promise of the debtor. Default 0.7.
    public var keptDecayPerBroken: Double = 0.7
    /// Urgency multiplier for a debt whose promise just broke. Default 1.5.
    public var brokenPromiseBoost: Double = 1.5
    /// When set, each bucket's p̂ is replaced by a Thompson sample from its Beta posterior, drawn from a
    /// generator seeded by this seed, the debtor id, the bucket and the hour of `now` (deterministic).
    /// Default nil (posterior mean).
    public var thompsonSeed: UInt64?

    /// The documented defaults.
    public init() {
        segmentCurves = ["early": Self.curve(mean: 0.06), "late": Self.curve(mean: 0.01)]
        defaultCurve = Self.curve(mean: 0.03)
    }

    /// A weekly curve with the given mean over the 08–21 hours: weekday daytime ×0.8, weekday evenings ×1.4,
    /// Saturday ×1.2, Sunday ×1.0 (after Weeks et al. 1987), night hours ×0.2. Documented estimates.
    public static func curve(mean: Double) -> [Double] {
        var c = [Double](repeating: 0, count: 168)
        for b in 0..<168 {
            let wd = b / 24 + 1
            let h = b % 24
            var f: Double
            if h < 8 || h >= 21 {
                f = 0.2
            } else if wd <= 5 {
                f = h >= 17 ? 1.4 : 0.8
            } else {
                f = wd == 6 ? 1.2 : 1.0
            }
            c[b] = mean * f
        }
        return c
    }

    /// The prior curve of `segment`.
    @inlinable
    public func prior(for segment: String?) -> [Double] {
        if let s = segment, let c = segmentCurves[s] { return c }
        return defaultCurve
    }
}
