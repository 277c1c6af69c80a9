/// When a debtor answers: the hidden hourly answer curves of the synthetic world.
public enum Archetype: String, Sendable, Hashable, CaseIterable, Codable {
    /// ×0.5 on weekdays 9–17 h, ×1.6 at 17–21 h, ×1.4 on Saturday 9–13 h.
    case dayWorker = "day-worker"
    /// ×1.3 at 10–16 h.
    case atHome = "at-home"
    /// Flat.
    case shift
    /// Never answers.
    case never

    /// The multiplier of the base right-party-contact probability at a local hour and ISO weekday.
    func multiplier(hour: Int, weekday: Int) -> Double {
        switch self {
        case .dayWorker:
            if weekday == 6 && hour >= 9 && hour < 13 { return 1.4 }
            if weekday <= 5 && hour >= 9 && hour < 17 { return 0.5 }
            if hour >= 17 && hour < 21 { return 1.6 }
            return 1
        case .atHome: return hour >= 10 && hour < 16 ? 1.3 : 1
        case .shift: return 1
        case .never: return 0
        }
    }
}

/// The ground truth of a synthetic world: what the scheduler cannot see and learns only from
/// outcomes. Defaults are the documented estimates of DOMAIN.md; every field can be overridden.
public struct WorldConfiguration: Sendable, Hashable, Codable {
    /// Archetype shares (normalised when used). Default day-worker 0.5, at-home 0.25, shift 0.15, never 0.10.
    public var mix: [Archetype: Double] = [.dayWorker: 0.5, .atHome: 0.25, .shift: 0.15, .never: 0.10]
    /// Mean base right-party-contact probability per dial, early-stage debtors. Default 0.06.
    public var baseRPCEarly: Double = 0.06
    /// Mean base right-party-contact probability per dial, late-stage debtors. Default 0.01.
    public var baseRPCLate: Double = 0.01
    /// Concentration (α + β) of the Beta distribution of base RPC. Default 5.
    public var concentration: Double = 5
    /// Multiplier per unanswered attempt in the last 7 days. Default 0.85.
    public var fatigue: Double = 0.85
    /// Share of debtor numbers that are dead (not in service). Default 0.03.
    public var deadShare: Double = 0.03
    /// Share of debtor numbers that reach someone else (wrong number). Default 0.035.
    public var wrongShare: Double = 0.035
    /// P(promise to pay | RPC). Default 0.30.
    public var ptpShare: Double = 0.30
    /// P(refused or dispute | RPC). Default 0.25 (a fifth of it disputes).
    public var refusedShare: Double = 0.25
    /// P(pays on the call | RPC). Default 0.10.
    public var paysShare: Double = 0.10
    /// P(promise kept) before any broken promise. Default 0.55.
    public var keptBase: Double = 0.55
    /// Factor on the keep probability after each broken promise. Default 0.7.
    public var keptAfterBroken: Double = 0.7
    /// Median talk time of a right-party conversation in seconds. Default 240.
    public var talkMedianSeconds: Double = 240

    /// Creates the default world.
    public init() {}

    /// Parses an archetype mix such as `day-worker=0.5,at-home=0.25,shift=0.15,never=0.10`.
    /// Archetypes left out get share 0. Throws when a name or number is not valid.
    public static func parseMix(_ text: String) throws(SimulationError) -> [Archetype: Double] {
        var mix: [Archetype: Double] = [:]
        for part in text.split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, let kind = Archetype(rawValue: kv[0].trimmingSpaces),
                let share = Double(kv[1].trimmingSpaces), share.isFinite, share >= 0
            else {
                throw SimulationError(
                    code: "invalid_mix",
                    message: "bad mix entry '\(part)': use name=share (a finite number, 0 or more) with names "
                        + Archetype.allCases.map(\.rawValue).joined(separator: ", "))
            }
            guard mix[kind] == nil else {
                throw SimulationError(code: "invalid_mix", message: "archetype '\(kind.rawValue)' is given twice")
            }
            mix[kind] = share
        }
        // Shares are weights (normalised by the world); their sum must be a usable number too (1e308 twice is not).
        let total = mix.values.reduce(0, +)
        guard total > 0, total.isFinite else {
            throw SimulationError(
                code: "invalid_mix", message: "the archetype mix must have a positive, finite total share")
        }
        return mix
    }
}

extension Substring {
    var trimmingSpaces: String { String(self.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed()) }
}

/// An error of the simulator: a stable code and a message that says what to fix.
public struct SimulationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A machine-readable code such as `invalid_mix`, `invalid_population`, `invalid_configuration`.
    public var code: String
    /// What went wrong and how to fix it.
    public var message: String
    /// Creates an error.
    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { "\(code): \(message)" }
}
