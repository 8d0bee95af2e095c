#!/usr/bin/env bash
# Times the working tree against another commit, the two builds taking turns in one process
# beside the benches' floor (see main.rs here), for changes smaller than this host's noise
# between criterion runs:
#
#   scripts/ab/run.sh BASE_REF SCENARIO [PROCESSES] [ROUNDS] [CALLS]
#
# SCENARIO: points, points_into, full, full_into (the engine bench's purchases, `evaluate` or
# `evaluate_into`, each beside its floor); replay (evaluate + apply over the CDNOW events);
# replay_ledger (the same through `Ledger<MemoryStore>`), both beside the ledger floor (the same
# books kept by hand, `floor_ledger`). Defaults: 9 processes of 60 rounds of
# 20,000 calls (the replays run once per round: give them fewer rounds). Prints each process's
# medians, then the median of each field over the processes. BASE_REF must have the benches'
# common module with the functions main.rs calls. Builds in $AB_DIR (default /tmp/loyalty-ab),
# with the versions the crate's Cargo.lock pins.
set -euo pipefail

if [ "$#" -lt 2 ]; then
    echo "usage: $0 BASE_REF SCENARIO [PROCESSES] [ROUNDS] [CALLS]" >&2
    exit 2
fi
base_ref=$1
scenario=$2
processes=${3:-9}
rounds=${4:-60}
calls=${5:-20000}
case $scenario in
points | points_into | full | full_into | replay | replay_ledger) ;;
*)
    echo "unknown scenario $scenario" >&2
    exit 2
    ;;
esac
root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
work=${AB_DIR:-/tmp/loyalty-ab}

rm -rf "$work/base" "$work/harness/src"
mkdir -p "$work/base" "$work/harness/src/base" "$work/harness/src/new"
git -C "$root" archive "$base_ref" | tar -x -C "$work/base"
# Cargo links two versions of one package only if semver tells them apart.
sed -i '0,/^version = .*/s//version = "0.0.0"/' "$work/base/Cargo.toml"
cp "$root/scripts/ab/main.rs" "$work/harness/src/main.rs"
cp "$root/Cargo.lock" "$work/harness/Cargo.lock"
cp "$root/benches/common/mod.rs" "$work/harness/src/new/common.rs"
sed 's/loyalty_engine/loyalty_base/g' "$work/base/benches/common/mod.rs" >"$work/harness/src/base/common.rs"
cat >"$work/harness/Cargo.toml" <<TOML
[package]
name = "ab"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
loyalty-engine = { path = "$root" }
loyalty_base = { package = "loyalty-engine", path = "$work/base" }
chrono = { version = "0.4", default-features = false, features = ["std", "serde"] }
rust_decimal = "1"
serde_json = "1"

[workspace]
TOML
CARGO_TARGET_DIR="$work/target" cargo build --quiet --release --manifest-path "$work/harness/Cargo.toml"
export CDNOW_MASTER=${CDNOW_MASTER:-$root/examples/data/cdnow_master.txt}

for _ in $(seq "$processes"); do
    "$work/target/release/ab" "$scenario" "$rounds" "$calls"
done | tee "$work/runs.txt"
echo "median of $processes processes ($scenario, base $base_ref):"
tr ' ' '\n' <"$work/runs.txt" | awk -F= 'NF == 2 { values[$1] = values[$1] " " $2 }
    END { for (key in values) print key, values[key] }' | sort | while read -r key values; do
    printf '  %s=%s\n' "$key" "$(tr ' ' '\n' <<<"$values" | sort -g | awk '{ v[NR] = $1 }
        END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }')"
done
