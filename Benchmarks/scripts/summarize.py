"""Prints the harness's one table from a run folder of Benchmarks/run-all.sh: for each figure its
value, target, the anchor measured in the same run, and the ratio. Usage: summarize.py RUN_DIR"""
import glob
import json
import os
import re
import statistics
import sys

run = sys.argv[1]
rows = []  # (area, figure, value, target, anchor, ratio, met)


def add(area, figure, value, target, anchor="-", ratio="-", met=None):
    rows.append((area, figure, value, target, anchor, ratio, "-" if met is None else ("yes" if met else "no")))


def text(name):
    path = os.path.join(run, name)
    return open(path, errors="replace").read() if os.path.exists(path) else ""


# --- package-benchmark (JMH export): p50 of every metric -------------------------------------
jmh = {}
for path in glob.glob(os.path.join(run, "**", "*.json"), recursive=True):
    try:
        data = json.load(open(path))
    except (ValueError, OSError):
        continue
    if not isinstance(data, list):
        continue
    for item in data:
        if not isinstance(item, dict) or "benchmark" not in item:
            continue
        metrics = {}
        for key in ("primaryMetric",):
            if key in item:
                metrics[item.get("metric", key)] = item[key]
        for name, m in (item.get("secondaryMetrics") or {}).items():
            metrics[name] = m
        jmh[item["benchmark"]] = metrics


def p50(bench_substring, scale=1, unit_hint="# / s"):
    """The median of a benchmark's throughput metric. JMH export names use '_' for spaces and keep
    package-benchmark's scaled units: pass the benchmark's scalingFactor (.kilo = 1000)."""
    key = bench_substring.replace(" ", "_")
    for name, metrics in jmh.items():
        if key in name:
            for m in metrics.values():
                if m.get("scoreUnit") == unit_hint:
                    return float(m["scorePercentiles"]["50.0"]) * scale
    return None


decide = p50("forEachDecision: US, 2 zones, 20 attempts (no reasons)", scale=1000)
decide_array = p50("decide: US, 2 zones, 20 attempts (no reasons)", scale=1000)
foundation = p50("Foundation Calendar/TimeZone", scale=1000)
if decide:
    add("decision", "decisions/s, typical US debtor (1 core, the engine's path: forEachDecision)", f"{decide:,.0f}",
        ">= 2,000,000", "-", f"{decide / 2e6:.2f}", decide >= 2e6)
if decide_array:
    add("decision", "decisions/s through decide (builds the [Decision] array)", f"{decide_array:,.0f}", "-", "-", "-")
if decide and foundation:
    add("decision", "decide vs Foundation Calendar window computation", f"{decide:,.0f}/s", ">= 10x",
        f"Foundation {foundation:,.0f}/s", f"{decide / foundation:.0f}x", decide / foundation >= 10)

def custom(bench_substring, metric_name):
    """The median of a custom metric (package-benchmark `.custom(...)`, exported unscaled)."""
    key = bench_substring.replace(" ", "_")
    for name, metrics in jmh.items():
        if key in name:
            for mname, m in metrics.items():
                if metric_name in mname:
                    return float(m["scorePercentiles"]["50.0"])
    return None


size = os.environ.get("TAGIH_BENCH_DEBTORS", "1000000")


def engine_lines(prefix, pattern):
    """The median of a figure EngineBenchmarks prints once per iteration (its custom metrics are not in the
    JMH export, which keeps only throughput metrics), e.g. `lease: 40000 debtors in 0.08 s = 488983/s`."""
    values = []
    for line in text("EngineBenchmarks.txt").replace("\r", "\n").splitlines():
        if line.startswith(prefix):
            m = re.search(pattern, line)
            if m:
                values.append(float(m[1]))
    values.sort()
    return values[(len(values) - 1) // 2] if values else None


bpd = custom("Restart to ready", "bytes per debtor") or engine_lines("restart:", r"\((\d+) B/debtor\)")
if bpd is not None:
    add("engine", f"resident bytes per debtor ({size} debtors)", f"{bpd:.0f} B", "<= 256 B at 10M", "-", f"{bpd / 256:.2f}",
        bpd <= 256 if size == "10000000" else None)
ready = custom("Restart to ready", "seconds to ready") or engine_lines("restart:", r"ready in ([\d.]+) s")
if ready is not None:
    add("engine", f"restart to ready ({size} debtors)", f"{ready:.1f} s", "<= 20 s at 10M", "-", "-",
        ready <= 20 if size == "10000000" else None)
lease = custom("Lease throughput", "debtors leased per second") or engine_lines("lease (full):", r"= (\d+)/s")
hopper = custom("SQL hopper baseline", "debtors leased per second") or engine_lines("hopper:", r"= (\d+)/s")
if lease is not None:
    add("engine", "lease throughput, engine alone", f"{lease:,.0f}/s", ">= 300,000/s; >= 30x hopper",
        f"SQL hopper {hopper:,.0f}/s" if hopper else "-", f"{lease / hopper:.0f}x" if hopper else "-",
        lease >= 300_000 and (hopper is None or lease / hopper >= 30))
ingest = custom("Durable ingestion", "outcomes per second") or engine_lines("ingest:", r"= (\d+)/s")
if ingest is not None:
    add("engine", "durable ingestion (fsync, group commit)", f"{ingest:,.0f}/s", ">= 100,000/s", "-",
        f"{ingest / 100_000:.2f}", ingest >= 100_000)

# --- RESULT lines of the macro scripts ------------------------------------------------------
def result_met(fields):
    """Whether a RESULT line meets its target: `0.5x` (ratio to the anchor), `<=5` (at most), `200000` (at least)."""
    try:
        target, value = fields.get("target", ""), float(fields.get("value", "nan"))
        if target.endswith("x"):
            return float(fields.get("ratio", "nan")) >= float(target[:-1])
        if target.startswith("<="):
            return value <= float(target[2:])
        return value >= float(target)
    except ValueError:
        return None


for name in ("debtor-get.txt", "service-streams.txt", "transport.txt", "sim.txt"):
    for line in text(name).splitlines():
        if not line.startswith("RESULT "):
            continue
        parts = line.split()
        fields = dict(p.split("=", 1) for p in parts[2:] if "=" in p)
        add(name.split(".")[0], parts[1], f"{fields.get('value')} {fields.get('unit', '')}", fields.get("target", "-"),
            f"{fields.get('anchor', '-')} {fields.get('anchor_value', '')}".strip(), fields.get("ratio", "-"),
            result_met(fields))

# --- transport script (its own text format) -------------------------------------------------
t = text("transport.txt")
m = re.search(r"small GET\s+tagih ([\d,]+) req/s\s+nghttpd ([\d,]+) req/s\s+ratio ([\d.]+)", t)
if m:
    tv, nv, r = float(m[1].replace(",", "")), float(m[2].replace(",", "")), float(m[3])
    add("transport", "small GET req/s", f"{tv:,.0f}", ">= 0.6x nghttpd", f"nghttpd {nv:,.0f}", f"{r:.2f}", r >= 0.6)
mbs = [float(x) for x in re.findall(r"([\d.]+) MB/s", t)]
if mbs:
    best = max(mbs)
    add("transport", "NDJSON streaming, one connection", f"{best:,.0f} MB/s", ">= 500 MB/s", "-",
        f"{best / 500:.2f}", best >= 500)
m = re.search(r"peak (\d+) MiB", t)
if m:
    peak = int(m[1])
    add("transport", "slow readers (20 KB/s): server RSS", f"{peak} MiB", "< 64 MiB", "-", f"{peak / 64:.2f}", peak < 64)

# --- simulation reports ---------------------------------------------------------------------
sim = {}
for path in glob.glob(os.path.join(run, "sim", "*.json")):
    try:
        sim[os.path.basename(path)[:-5]] = json.load(open(path))
    except ValueError:
        pass
lifts = [(k, r["comparison"]) for k, r in sorted(sim.items()) if r.get("comparison")]
if lifts:
    rpc = statistics.median(c["rpcPerDialLift"] for _, c in lifts)
    col = statistics.median(c["collectedLift"] for _, c in lifts)
    add("simulation", f"tagih vs baseline RPC/dial ({len(lifts)} worlds, median)", f"{rpc * 100:+.1f}%", ">= +15%",
        "baseline, same world and seed", f"{(1 + rpc):.2f}x", rpc >= 0.15)
    add("simulation", f"tagih vs baseline collected ({len(lifts)} worlds, median)", f"{col * 100:+.1f}%", ">= +8%",
        "baseline, same world and seed", f"{(1 + col):.2f}x", col >= 0.08)
violations = sum(s["violations"] for r in sim.values() for s in r.get("strategies", []))
if sim:
    add("simulation", "compliance violations (all runs)", str(violations), "0", "-", "-", violations == 0)
for k, r in sorted(sim.items()):
    if k.startswith("speed"):
        wall = sum(s.get("wallSeconds", 0) for s in r["strategies"])
        add("simulation", f"{r['debtors']:,} debtors x {r['agents']} agents x {r['days']} days", f"{wall:.1f} s",
            "1M x 500 x 30 in <= 30 s", "-", "-")

print("| area | figure | value | target | anchor (same run) | ratio | met |")
print("|---|---|---|---|---|---|---|")
for row in rows:
    print("| " + " | ".join(str(c) for c in row) + " |")
if not rows:
    print("| - | no figures found in " + run + " | | | | | |")
