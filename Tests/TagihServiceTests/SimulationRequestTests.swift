import NIOCore
import TagihSim
import Testing

@testable import TagihService

/// `POST /v1/simulations` bodies: every bad parameter is named with its value; good ones become the plan.
@Suite struct SimulationRequestTests {
    private func plan(_ json: String) throws(RequestError) -> SimulationPlan {
        try TagihService.simulationPlan(ByteBuffer(string: json))
    }

    private func problem(_ json: String) -> RequestError? {
        do {
            _ = try plan(json)
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: [
        (#"{"start":"2026-12-01","seed":-1}"#, "out_of_range", "seed", "'seed' is -1; it must be a whole number from 0"),
        (#"{"start":"2026-12-01","seed":1.5}"#, "wrong_type", "seed", "written without a point or exponent"),
        (#"{"start":"2026-12-01","debtors":1e6}"#, "wrong_type", "debtors", "'debtors' is 1e6"),
        (#"{"start":"2026-12-01","debtors":99999999999999999999}"#, "out_of_range", "debtors", "from 1 to 2000000"),
        (#"{"start":"2026-12-01","days":0}"#, "out_of_range", "days", "'days' is 0; it must be a whole number from 1 to 90"),
        (#"{"start":"2026-12-01","agents":"5"}"#, "wrong_type", "agents", "not a string"),
        (#"{"start":"2026-12-01","agents":[]}"#, "out_of_range", "agents", "lists 0 counts"),
        (#"{"start":"2026-12-01","agents":[5,100001]}"#, "out_of_range", "agents", "'agents' is 100001"),
        (#"{"start":"2026-12-01","agents":null}"#, "wrong_type", "agents", "must not be null"),
        (#"{"start":"2026-12-01","mix":[1]}"#, "wrong_type", "mix", "an object of archetype shares"),
        (#"{"start":"2026-12-01","mix":{}}"#, "invalid_mix", "mix", "'mix' is empty"),
        (#"{"start":"2026-12-01","mix":{"never":"1"}}"#, "wrong_type", "mix.never", "must be a number"),
        (#"{"start":"2026-12-01","mix":{"nobody":1}}"#, "invalid_mix", "mix.nobody", "unknown archetype 'nobody'"),
        (#"{"start":"2026-12-01","mix":{"never":-1}}"#, "invalid_mix", "mix.never", "'mix.never' is -1"),
        (#"{"start":"2026-12-01","mix":{"never":0}}"#, "invalid_mix", "mix", "positive, finite total"),
        (#"{"start":"2026-12-01","floorZone":"Mars/Base"}"#, "unknown_value", "floorZone", "'Mars/Base'"),
        (#"{"start":"2026-12-01","floorZone":"EST"}"#, "unknown_value", "floorZone", "a fixed offset, not a place"),
        (#"{"start":"2026-02-30"}"#, "invalid_time", "start", "'start' is '2026-02-30'"),
        (#"{"start":20261201}"#, "wrong_type", "start", "must be a string, not a number"),
        (#"{"days":3}"#, "missing_field", "start", "'start' is required"),
        (#"{"start":"2026-12-01","strategy":"magic"}"#, "unknown_value", "strategy", "'strategy' is 'magic'"),
        (#"{"start":"2026-12-01","dialer":"robot"}"#, "unknown_value", "dialer", "'dialer' is 'robot'"),
        (#"{"start":"2026-12-01","agent":5}"#, "unknown_field", "agent", "unknown parameter 'agent'"),
        (#"{"start":"2026-12-01","days":1,"days":2}"#, "duplicate_key", "days", "given twice"),
    ])
    func aBadParameterIsNamedWithItsValue(body: String, code: String, field: String, message: String) {
        let error = problem(body)
        #expect(error?.code == code, "\(body): \(String(describing: error))")
        #expect(error?.field == field, "\(body): \(String(describing: error))")
        #expect(error?.message.contains(message) == true, "\(body): \(String(describing: error))")
    }

    @Test func aGoodBodyBecomesThePlan() throws {
        let p = try plan(
            #"{"start":"2026-12-01","debtors":300,"days":2,"agents":[4,2],"seed":18446744073709551615,"#
                + #""strategy":"baseline","dialer":"preview","mix":{"day-worker":3,"never":1},"floorZone":"Asia/Jakarta"}"#)
        #expect(p.debtors == 300)
        #expect(p.agentCounts == [4, 2])
        #expect(p.configuration.agents == 4)
        #expect(p.seed == UInt64.max && p.configuration.seed == UInt64.max)
        #expect(p.strategies == [.baseline])
        #expect(p.configuration.dialer == .preview)
        #expect(p.configuration.days == 2)
        #expect(p.configuration.floorZone == "Asia/Jakarta")
        #expect(p.configuration.world.mix == [.dayWorker: 3, .never: 1])
        // Midnight of 2026-12-01 in Jakarta (UTC+7) is 2026-11-30T17:00:00Z.
        #expect(p.configuration.start == 1_796_083_200 - 7 * 3600)
        let defaults = try plan(#"{"start":"2026-12-01"}"#)
        #expect(defaults.debtors == 10_000 && defaults.agentCounts == [50] && defaults.seed == 1)
        #expect(defaults.strategies == StrategyKind.allCases)
        #expect(defaults.configuration.floorZone == "America/New_York")
        #expect(defaults.configuration.world.mix == WorldConfiguration().mix)
    }
}
