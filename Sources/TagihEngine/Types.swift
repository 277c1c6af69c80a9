import TagihCore
import TagihStore

/// Which debtors a dialer may be given.
public struct LeaseFilter: Sendable, Hashable {
    /// Jurisdictions to serve; nil = all. `"US"` also matches every sub-region (`"US-MA"`, `"US-NY-NYC"`).
    public var jurisdictions: [String]?

    /// Creates a filter.
    public init(jurisdictions: [String]? = nil) { self.jurisdictions = jurisdictions }

    /// Every debtor.
    public static let all = LeaseFilter()

    /// Whether `jurisdiction` passes the filter.
    public func matches(_ jurisdiction: String) -> Bool {
        guard let jurisdictions else { return true }
        for j in jurisdictions {
            if jurisdiction == j { return true }
            if jurisdiction.count > j.count, jurisdiction.hasPrefix(j),
                jurisdiction.utf8[jurisdiction.utf8.index(jurisdiction.utf8.startIndex, offsetBy: j.utf8.count)]
                    == UInt8(ascii: "-")
            {
                return true
            }
        }
        return false
    }
}

/// A debtor handed to one dialer: nobody else is given this debtor until the lease ends (outcome or expiry).
///
/// The decision's fields are stored in the lease itself and ``decision`` is assembled when read: the engine builds
/// a lease per debtor it hands out, and a `Decision` built on the way (its initializer lives in another module and
/// is not inlined) cost a copy and a destruction of every one of its strings and arrays per lease.
public struct Lease: Sendable, Hashable {
    /// The lease id (unique across restarts); a dialer echoes it in the outcome.
    public var id: String
    /// When the lease was handed out.
    public var leasedAt: UnixSeconds
    /// When it expires; an expired lease counts as a placed call.
    public var expires: UnixSeconds
    /// The dialer that holds it.
    public var holder: String
    /// The debtor id.
    public var debtor: String
    /// The debt to call about.
    public var debt: String
    /// The number to dial.
    public var phone: String
    /// The rank it was given by (value of calling now).
    public var score: Double
    /// The end of the permitted window the call must fall in.
    public var windowEnds: UnixSeconds?
    /// Why this call, now.
    public var reasons: [String]
    /// The decision's earliest permitted instant.
    public var earliest: UnixSeconds?
    /// The decision's best instant within the horizon.
    public var best: UnixSeconds?
    /// The debtor's primary zone (the zone of local times shown).
    public var zone: String?
    /// Whether the call is a consented callback.
    public var consentedCallback: Bool

    /// The decision it was leased under (assembled from the lease's fields).
    public var decision: Decision {
        Decision(debtor: debtor, debt: debt, phone: phone, earliest: earliest, best: best, windowEnds: windowEnds,
                 score: score, blockedReason: nil, reasons: reasons, zone: zone, consentedCallback: consentedCallback)
    }
}

/// What became of one ingested event.
public enum IngestResult: Sendable, Hashable {
    /// Durable and applied.
    case applied
    /// Already in the log (same attempt or payment id); acknowledged, not applied again.
    case duplicate
    /// Not written: the code and message say why (for example `unknown_debtor`), and `field` names the input
    /// field at fault (`debtor`, `debt`, `at`, `callbackAt`, `currency`; empty when no one field is).
    case rejected(code: String, message: String, field: String = "")
}

/// What became of one upserted debtor.
public enum UpsertResult: Sendable, Hashable {
    /// A new debtor, durable and scheduled.
    case inserted
    /// A known debtor's record was replaced; its history is kept.
    case updated
    /// Not written: the code and message say why.
    case rejected(code: String, message: String)
}

/// Where a debtor is in the engine's queues.
public enum DebtorQueueState: String, Sendable, Hashable {
    /// No open debt may be called (hard stop, no phone, no open debt).
    case blocked
    /// Waiting for its next permitted time.
    case waiting
    /// Permitted now, in the ready queue.
    case ready
    /// Leased to a dialer.
    case leased
}

/// Everything the engine knows about one debtor, for `explain` and the API.
public struct DebtorSnapshot: Sendable {
    /// The debtor record.
    public var debtor: Debtor
    /// Fresh decisions, one per open debt, at the instant of the query.
    public var decisions: [Decision]
    /// The history the decisions were made from.
    public var history: DebtorHistory
    /// The queue state.
    public var state: DebtorQueueState
    /// The active lease, if any.
    public var lease: Lease?
}

/// What became of a request to give a lease back (`Engine.releaseLease(_:heldBy:)`).
public enum LeaseReturn: Sendable, Hashable {
    /// Logged durably and ended: the debtor is leasable again at once, and no call is counted.
    case released
    /// The holder holds no lease of that id from this process: unknown, already ended (by an outcome, an expiry or
    /// a release), another holder's, restored at start (it ends by outcome or expiry), or still being granted.
    case notHeld
    /// The release could not be logged (the store cannot be written); the lease stays and expires as usual.
    case notLogged
}

/// A lease whose call may no longer be placed: the debtor changed while leased (an upsert, a payment, a
/// clearance, an outcome of another call) so that the leased debt or number is now off limits (`Engine.revocations`).
/// The lease itself stays until its outcome, a release or its expiry: the dialer may have dialed already. An
/// outcome reported without a lease id ends the debtor's lease (it is taken as that call's); when that outcome
/// forbids further calls, the holder is told too, with `leaseEnded` true.
public struct LeaseRevocation: Sendable, Hashable {
    /// The lease.
    public var lease: String
    /// Its holder (`lease(_:filter:holder:)`).
    public var holder: String
    /// The debtor, debt and number of the lease.
    public var debtor: String
    public var debt: String
    public var phone: String
    /// Why the call may not be placed (for example "status cease", "phone +1… opted out").
    public var reason: String
    /// Whether the lease has ended already (by an outcome reported without its lease id).
    public var leaseEnded: Bool
    /// When the change was applied.
    public var at: UnixSeconds
}
