#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer, with AddressSanitizer) of what tagih reads from outside: line protocol v1
# decoders (debtor, outcome, payment, clearance lines), the JSON parser, stored records, events and histories read
# back from a damaged store, and ContactPolicy deciding any accepted debtor with any accepted history
# (Tests/Fuzz/Sources/TagihFuzz/Fuzz.swift says what each target checks).
#
#   scripts/fuzz.sh [SECONDS]     # default 300; crashes are written to Tests/Fuzz/findings/ (not committed)
#
# Not part of scripts/test.sh: the sanitizers rebuild every module (several minutes). An input that crashes
# becomes an ordinary unit test of the suite it belongs to.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="/opt/swift/usr/bin:$PATH"
seconds="${1:-300}"
fuzz=Tests/Fuzz
(cd "$fuzz" && swift build -c release -Xswiftc -sanitize=fuzzer,address)
corpus="$fuzz/.build/corpus"
mkdir -p "$corpus" "$fuzz/findings"
# Seeds: the first byte picks the target (Fuzz.swift); the rest is a line of each kind, from proto-docs.
seed() { printf "$1%s" "$2" > "$corpus/seed-$3"; }
debtor='{"id":"D-1","jurisdiction":"US-MA","zone":"America/New_York","status":"active","segment":"late","phones":[{"number":"+16175550100","kind":"mobile","zone":"America/New_York","owner":"debtor"},{"number":"+16175550101","kind":"work","owner":"debtor","consent":"revoked"}],"debts":[{"id":"A-1","balance":"1250.00","currency":"USD"},{"id":"A-2","balance":"80.5","currency":"USD","disputed":true}],"quiet":[{"days":["sun"],"from":"00:00","to":"24:00"}]}'
debtorID='{"id":"D-2","jurisdiction":"ID","zone":"Asia/Jakarta","status":"active","phones":[{"number":"+628123456789","kind":"mobile"}],"debts":[{"id":"B-1","balance":"2500000","currency":"IDR"}]}'
debtorGB='{"id":"D-3","jurisdiction":"GB","zone":"Europe/London","status":"active","phones":[{"number":"+447700900123","kind":"home"}],"debts":[{"id":"C-1","balance":"99.99","currency":"GBP"}]}'
outcome='{"attempt":"c0ffee-1","debtor":"D-1","debt":"A-1","phone":"+16175550100","at":"2026-11-30T14:05:00Z","outcome":"promise_to_pay","lease":"L-9","promise":{"amount":"100.00","due":"2026-12-05"}}'
callback='{"attempt":"c0ffee-2","debtor":"D-1","debt":"A-1","phone":"+16175550100","at":"2026-11-30T15:05:00-05:00","outcome":"callback_requested","callbackAt":"2026-12-01T09:30:00-05:00"}'
noanswer='{"attempt":"c0ffee-3","debtor":"D-1","debt":"A-2","phone":"+16175550101","at":"2026-11-29T14:05:00Z","outcome":"no_answer"}'
payment='{"payment":"P-77","debtor":"D-1","debt":"A-1","amount":"100.00","at":"2026-12-04T10:00:00Z","currency":"USD"}'
clearance='{"clearance":"CL-9","debtor":"D-1","clears":"dispute","debt":"A-1","by":"ops-jane","note":"validation letter answered"}'
seed '\000' "$outcome" json
seed '\001' "$debtor" debtor-us; seed '\001' "$debtorID" debtor-id; seed '\001' "$debtorGB" debtor-gb
seed '\002' "$outcome" outcome; seed '\002' "$callback" callback
seed '\003' "$payment" payment
seed '\004' "$clearance" clearance
seed '\007' "$debtor
$outcome
$callback
$noanswer
$payment" history-us
seed '\007' "$debtorID
{\"attempt\":\"x\",\"debtor\":\"D-2\",\"debt\":\"B-1\",\"phone\":\"+628123456789\",\"at\":\"2026-11-30T03:05:00Z\",\"outcome\":\"right_party\"}" history-id
# Stored records and events: the harness writes the store's encoding of the seeds above (targets 5 and 6).
TAGIH_FUZZ_WRITE_SEEDS="$corpus" "$fuzz/.build/release/TagihFuzz" -runs=0 "$corpus" > /dev/null 2>&1 || true
"$fuzz/.build/release/TagihFuzz" -max_total_time="$seconds" -rss_limit_mb=4096 -max_len=4096 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$fuzz/findings/" "$corpus"
