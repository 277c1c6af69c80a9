import Testing
@testable import TagihCore
import TagihStore
@testable import TagihEngine

/// The lease path's shortcuts: the scores a shard publishes at its take (read by `Engine.lease` without a
/// message), and the merge of the shards' ranked runs.
@Suite struct PublishedScoresTests {
    func shard(_ count: Int) async -> Shard {
        let shard = Shard(shardID: 0, policy: ContactPolicy(), leaseTag: "t", rescoreBatch: 100)
        let debtors = (0..<count).map { makeDebtor($0, balance: Int64(1 + ($0 * 7_919) % 97) * 10_000) }
        _ = await shard.upsert(debtors.enumerated().map { ($1, Int64($0 + 1)) }, now: t0)
        return shard
    }

    @Test func aTakePublishesTheBestScoresLeftAndAnyOtherMessageWithdrawsThem() async {
        let shard = await shard(60)
        #expect(shard.publishedScores(5) == nil, "nothing published before the first take or peek")
        var leases: [Lease] = []
        _ = await shard.take(4, filter: .all, holder: "h", now: t0, ttl: 600, into: &leases, publish: 10)
        let published = shard.publishedScores(10)
        #expect(published != nil)
        #expect(published == (await shard.peekScores(10, filter: .all)), "published = what a peek sees")
        #expect(shard.publishedScores(6) == published.map { Array($0.prefix(6)) })
        #expect(shard.publishedScores(11) == nil, "fewer published than asked, and the shard has more")
        // A query settles the shard, an event changes a debtor: either withdraws the published scores until the
        // next take or peek.
        _ = await shard.snapshots(of: ["D-1"], now: t0)
        #expect(shard.publishedScores(1) == nil, "a query withdraws them")
        _ = await shard.peekScores(10, filter: .all)
        #expect(shard.publishedScores(10) != nil)
        await shard.apply([(.outcome(outcome("a1", makeDebtor(1), .noAnswer, at: t0)), 100)], now: t0)
        #expect(shard.publishedScores(1) == nil, "an event withdraws them")
        _ = await shard.take(1, filter: .all, holder: "h", now: t0, ttl: 600, into: &leases, publish: 10)
        #expect(shard.publishedScores(10) == (await shard.peekScores(10, filter: .all)))
    }

    @Test func aFilteredTakeOrPeekPublishesNothing() async {
        let shard = await shard(30)
        var leases: [Lease] = []
        _ = await shard.take(2, filter: LeaseFilter(jurisdictions: ["US"]), holder: "h", now: t0, ttl: 600,
                             into: &leases, publish: 10)
        #expect(shard.publishedScores(1) == nil)
        _ = await shard.peekScores(5, filter: LeaseFilter(jurisdictions: ["US"]))
        #expect(shard.publishedScores(1) == nil)
        _ = await shard.peekScores(5, filter: .all)
        #expect(shard.publishedScores(5) != nil)
    }

    @Test func allOfASmallShardIsPublishedAsComplete() async {
        let shard = await shard(3)
        var leases: [Lease] = []
        _ = await shard.take(1, filter: .all, holder: "h", now: t0, ttl: 600, into: &leases, publish: 10)
        #expect(shard.publishedScores(10)?.count == 2, "two ready debtors left, all of them published")
        _ = await shard.take(2, filter: .all, holder: "h", now: t0, ttl: 600, into: &leases, publish: 10)
        #expect(shard.publishedScores(10) == [])
    }

    /// Sequential leasing through the engine: every call hands out the best ready debtors across all shards. The
    /// second call of each round reads the published scores of the shards the outcome in between did not touch,
    /// and must not count the debtor the outcome made unready (its shard withdrew its published scores).
    @Test func engineLeasesTheBestAcrossShardsWithPublishedScores() async throws {
        var configuration = EngineConfiguration(shardCount: 4)
        configuration.persistence = .ephemeral
        let engine = try await Engine.open(configuration: configuration, clock: VirtualClock(start: t0),
                                           logger: quietLogger)
        let debtors = (0..<400).map { makeDebtor($0, balance: Int64(1 + ($0 * 7_919) % 997) * 10_000) }
        _ = try await engine.upsert(debtors)
        for round in 0..<12 {
            let ranked = await bestReady(engine, debtors)
            try #require(ranked.count >= 21)
            let first = await engine.lease(10, holder: "h")
            #expect(first.map { Float($0.score) } == ranked[..<10].map(\.score), "round \(round)")
            // The next best debtor gets an outcome (not callable again for a while): the next call skips it.
            let victim = ranked[10].debtor
            _ = try await engine.ingest(outcome("r\(round)", victim, .noAnswer, at: t0))
            let second = await engine.lease(10, holder: "h")
            #expect(second.map { Float($0.score) } == ranked[11..<21].map(\.score), "round \(round)")
            #expect(!second.contains { $0.debtor == victim.id })
        }
    }

    /// The ready debtors, best first (this settles and queries every shard).
    func bestReady(_ engine: Engine, _ debtors: [Debtor]) async -> [(score: Float, debtor: Debtor)] {
        var ready: [(score: Float, debtor: Debtor)] = []
        let states = await engine.debtorStates(ids: debtors.map(\.id))
        for (debtor, state) in zip(debtors, states) where state?.state == .ready {
            if let d = await engine.currentDecision(id: debtor.id) { ready.append((Float(d.score), debtor)) }
        }
        return ready.sorted { $0.score > $1.score }
    }
}

@Suite struct RankOrderTests {
    func lease(_ id: String, _ score: Double) -> Lease {
        Lease(id: id, leasedAt: t0, expires: t0 + 600, holder: "h", debtor: "D-\(id)", debt: "A", phone: "+1",
              score: score, windowEnds: nil, reasons: [], earliest: t0, best: nil, zone: nil, consentedCallback: false)
    }

    @Test(arguments: [UInt64(1), 2, 3, 4, 5])
    func mergingRankedRunsEqualsSorting(seed: UInt64) {
        var generator = SplitMix64(seed: seed)
        let runCount = Int.random(in: 1...5, using: &generator)
        var leases: [Lease] = []
        var runs: [Range<Int>] = []
        for r in 0..<runCount {
            let n = Int.random(in: 0...12, using: &generator)
            // Few distinct scores, so that ties (broken by lease id) are common.
            var run = (0..<n).map { k in lease("L\(r)x\(k)", Double(Int.random(in: 0..<4, using: &generator))) }
            run.sort { Engine.ranksBefore($0, $1) }
            if !run.isEmpty { runs.append(leases.count..<(leases.count + run.count)) }
            leases += run
        }
        var merged = leases
        Engine.rankOrder(&merged, runs: runs)
        var sorted = leases
        Engine.rankOrder(&sorted)
        #expect(merged.map(\.id) == sorted.map(\.id))
        #expect(merged.map(\.id) == leases.sorted { Engine.ranksBefore($0, $1) }.map(\.id))
    }

    @Test func runsOutOfOrderAreSortedInstead() {
        var leases = [lease("a", 1), lease("b", 3), lease("c", 2), lease("d", 5)]
        Engine.rankOrder(&leases, runs: [0..<2, 2..<4])  // the first run is not best first
        #expect(leases.map(\.id) == ["d", "b", "c", "a"])
    }
}
