public import Foundation

/// Writes a simulation report as `report.json`, a per-day CSV (`days.csv`) and a self-contained
/// `report.html` with inline SVG charts.
public enum ReportWriter {
    /// The report as pretty-printed JSON with sorted keys.
    public static func json(_ report: SimulationReport, pretty: Bool = true) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty
            ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(report)) ?? Data("{}".utf8)
    }

    /// The per-day CSV: one row per strategy and day.
    public static func csv(_ report: SimulationReport) -> String {
        var s = "strategy,date,dials,right_party_contacts,promises,kept_promises,collected,abandoned,live_answers,"
            + "agent_hours,busy_agent_hours,starved_agent_hours,blocked_calls,violations,attempted_share,reached_share\n"
        for r in report.strategies {
            for d in r.perDay {
                let fields: [String] = [
                    r.strategy, d.date, "\(d.dials)", "\(d.rightPartyContacts)", "\(d.promises)", "\(d.keptPromises)",
                    fixed(d.collected, 2), "\(d.abandoned)", "\(d.liveAnswers)", fixed(d.agentHours, 2),
                    fixed(d.busyAgentHours, 2), fixed(d.starvedAgentHours, 2), "\(d.blockedCalls)", "\(d.violations)",
                    fixed(d.attemptedShare, 4), fixed(d.reachedShare, 4),
                ]
                s += fields.joined(separator: ",") + "\n"
            }
        }
        return s
    }

    /// Writes `report.json`, `days.csv` and `report.html` into `directory` (created if needed).
    ///
    /// - Throws: `SimulationError` (`io_error`) when a file cannot be written.
    public static func write(_ report: SimulationReport, to directory: URL) throws(SimulationError) {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try json(report).write(to: directory.appendingPathComponent("report.json"))
            try Data(csv(report).utf8).write(to: directory.appendingPathComponent("days.csv"))
            try Data(html(report).utf8).write(to: directory.appendingPathComponent("report.html"))
        } catch {
            throw SimulationError(
                code: "io_error", message: "cannot write the report to \(directory.path): \(error)")
        }
    }

    static func fixed(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }

    static let colors = ["tagih": "#1b7f5a", "baseline": "#b8452e", "earliest": "#3b5ba5"]

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// The step of a chart's 4 grid intervals: the smallest of 1, 2, 2.5 or 5 × 10^k at least `maxY` / 4, so that
    /// the ticks are round numbers (0, 250, 500, … rather than 0, 237.5, 475, …).
    static func tickStep(_ maxY: Double) -> Double {
        let raw = maxY / 4
        let magnitude = pow(10, (log10(raw)).rounded(.down))
        for m in [1.0, 2.0, 2.5, 5.0] where m * magnitude >= raw * (1 - 1e-12) { return m * magnitude }
        return 10 * magnitude
    }

    /// A tick label: as many decimals as the step needs (2.5 needs one, 0.25 two); `percent` shows a share as %.
    static func tickLabel(_ v: Double, step: Double, percent: Bool) -> String {
        let scale = percent ? 100.0 : 1.0
        let s = step * scale
        var decimals = 0
        while decimals < 6, abs((s * pow(10, Double(decimals))).rounded() - s * pow(10, Double(decimals))) > 1e-9 {
            decimals += 1
        }
        return fixed(v * scale, decimals) + (percent ? " %" : "")
    }

    /// A line chart of one series per strategy (`percent`: the values are shares, labelled in %).
    static func chart(
        title: String, report: SimulationReport, percent: Bool = false, value: (StrategyReport, Int) -> Double
    ) -> String {
        let w = 560.0
        let h = 262.0
        let left = 60.0
        let bottom = 30.0
        let top = 46.0  // the title, then the legend on a line of its own, then the plot
        let days = max(report.days, 1)
        var maxY = 0.0
        for r in report.strategies { for d in 0..<r.perDay.count { maxY = max(maxY, value(r, d)) } }
        if maxY <= 0 { maxY = percent ? 0.01 : 1 }
        let step = tickStep(maxY)
        maxY = 4 * step
        func x(_ d: Int) -> Double { left + (w - left - 10) * (days > 1 ? Double(d) / Double(days - 1) : 0.5) }
        func y(_ v: Double) -> Double { top + (h - top - bottom) * (1 - v / maxY) }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" "
            + "viewBox=\"0 0 \(Int(w)) \(Int(h))\" role=\"img\" aria-label=\"\(escape(title))\">"
        svg += "<text x=\"\(left)\" y=\"16\" font-size=\"13\" font-weight=\"bold\">\(escape(title))</text>"
        for k in 0...4 {
            let v = step * Double(k)
            let yy = y(v)
            svg += "<line x1=\"\(left)\" y1=\"\(fixed(yy, 1))\" x2=\"\(w - 10)\" y2=\"\(fixed(yy, 1))\" stroke=\"#ddd\"/>"
            svg += "<text x=\"\(left - 4)\" y=\"\(fixed(yy + 4, 1))\" font-size=\"10\" text-anchor=\"end\">"
                + "\(tickLabel(v, step: step, percent: percent))</text>"
        }
        svg += "<text x=\"\(left)\" y=\"\(h - 8)\" font-size=\"10\">day 1</text>"
        svg += "<text x=\"\(fixed((left + w - 10) / 2, 1))\" y=\"\(h - 8)\" font-size=\"10\" text-anchor=\"middle\" "
            + "fill=\"#555\">simulated day</text>"
        svg += "<text x=\"\(w - 10)\" y=\"\(h - 8)\" font-size=\"10\" text-anchor=\"end\">day \(days)</text>"
        for (k, r) in report.strategies.enumerated() {
            let color = colors[r.strategy] ?? "#555"
            let points = (0..<r.perDay.count).map { "\(fixed(x($0), 1)),\(fixed(y(value(r, $0)), 1))" }
            svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(points.joined(separator: " "))\"/>"
            // A marker per day while they fit (a one-day run's line is a single point, which a polyline does not draw).
            if r.perDay.count <= 62 {
                for d in 0..<r.perDay.count {
                    svg += "<circle cx=\"\(fixed(x(d), 1))\" cy=\"\(fixed(y(value(r, d)), 1))\" r=\"3\" "
                        + "fill=\"\(color)\"/>"
                }
            }
            // The legend on its own line under the title, clear of the plot and of long titles.
            let legendX = left + Double(k) * 100
            svg += "<rect x=\"\(legendX)\" y=\"24\" width=\"10\" height=\"10\" fill=\"\(color)\"/>"
            svg += "<text x=\"\(legendX + 14)\" y=\"33\" font-size=\"11\">\(escape(r.strategy))</text>"
        }
        return svg + "</svg>"
    }

    /// The self-contained HTML report.
    public static func html(_ report: SimulationReport) -> String {
        var s = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>tagih simulation report</title>
            <style>body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:12px 0}
            td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th:first-child,td:first-child{text-align:left}
            .charts{display:flex;flex-wrap:wrap;gap:16px}.ok{color:#1b7f5a}.bad{color:#b8452e;font-weight:bold}</style>
            </head><body>
            <h1>tagih simulation report</h1>

            """
        s += "<p>Start \(escape(report.start)), \(report.days) days, \(report.agents) agents"
            + (report.floorZone.map { " (shifts in \(escape($0)))" } ?? "") + ", dialer \(report.dialer), "
            + "seed \(report.seed), \(report.debtors) debtors with \(report.debts) debts. Archetype mix: "
            + escape(report.mix.sorted { $0.key < $1.key }.map { "\($0.key) \(fixed($0.value, 2))" }.joined(separator: ", "))
            + ".</p>\n"
        if let c = report.comparison {
            s += "<p><b>tagih vs baseline:</b> RPC per dial \(fixed(c.rpcPerDialLift * 100, 1)) %, "
                + "amount collected \(fixed(c.collectedLift * 100, 1)) %, RPC per agent-hour "
                + "\(fixed(c.rpcPerAgentHourLift * 100, 1)) % (same agent hours).</p>\n"
        }
        let rows: [(String, (StrategyReport) -> String)] = [
            ("dials", { "\($0.dials)" }),
            ("right-party contacts", { "\($0.rightPartyContacts)" }),
            ("RPC per dial", { fixed($0.rpcPerDial * 100, 2) + " %" }),
            ("RPC per agent-hour", { fixed($0.rpcPerAgentHour, 2) }),
            ("agent hours", { fixed($0.agentHours, 0) }),
            ("promises to pay", { "\($0.promises)" }),
            ("kept promises", { "\($0.keptPromises)" }),
            ("broken promises", { "\($0.brokenPromises)" }),
            ("amount collected (USD eq.)", { fixed($0.collected, 0) }),
            ("penetration: attempted", { fixed($0.penetrationAttempted * 100, 1) + " %" }),
            ("penetration: reached", { fixed($0.penetrationReached * 100, 1) + " %" }),
            ("agents idle ≥ 25 % for lack of leads, from day (none permitted, or held by the gate)",
             { $0.exhaustionDay.map { "\($0)" } ?? "never" }),
            ("occupancy", { fixed($0.occupancy * 100, 1) + " %" }),
            ("abandon rate", { fixed($0.abandonRate * 100, 2) + " %" }),
            ("counted calls per debt per week", { fixed($0.countedCallsPerDebtPerWeek, 2) }),
            ("calls reaching the 7-in-7 cap", { fixed($0.callsAtCapShare * 100, 2) + " %" }),
            ("calls blocked by the permission check", { "\($0.blockedCalls)" }),
            ("violations (independent checker)", {
                $0.violations == 0 ? "<span class=\"ok\">0</span>" : "<span class=\"bad\">\($0.violations)</span>"
            }),
            ("backend", { escape($0.backend) }),
        ]
        s += "<table><tr><th>metric</th>" + report.strategies.map { "<th>\(escape($0.strategy))</th>" }.joined() + "</tr>\n"
        for (label, f) in rows {
            s += "<tr><td>\(escape(label))</td>" + report.strategies.map { "<td>\(f($0))</td>" }.joined() + "</tr>\n"
        }
        s += "</table>\n<div class=\"charts\">\n"
        s += chart(title: "Right-party contacts per day", report: report) { Double($0.perDay[$1].rightPartyContacts) }
        s += chart(title: "Amount collected, cumulative (USD eq.)", report: report) { r, d in
            r.perDay[0...d].reduce(0) { $0 + $1.collected }
        }
        s += chart(title: "Penetration: share of debtors reached", report: report, percent: true) {
            $0.perDay[$1].reachedShare
        }
        s += chart(title: "Dials per day", report: report) { Double($0.perDay[$1].dials) }
        s += "\n</div>\n"
        for r in report.strategies where !r.violationExamples.isEmpty {
            s += "<h3>Violations of \(escape(r.strategy))</h3><ul>"
                + r.violationExamples.map { "<li>\(escape($0))</li>" }.joined() + "</ul>\n"
        }
        s += "</body></html>\n"
        return s
    }
}
