#!/bin/bash
# What one sale costs the machine while a hub sells at its limit: the
# processor time of the hub, of PostgreSQL (all its processes) and of wrk
# per sale, and the WAL PostgreSQL writes per sale by kind of record, read
# over the middle of a `wrk-load` run at 16 connections.
#
#   load-tests/sale-cost.sh HUB [wrk-load options after its --hub, e.g. --lines 3]
#
# Needs the local PostgreSQL (127.0.0.1:5432, user postgres), its WAL
# directory readable (run as root or postgres) and `pg_waldump`. The WAL
# is read while the run is still going; a checkpoint inside the 6 s can
# still recycle its first segment (pg_waldump then says so): run again,
# or keep WAL for the while (`ALTER SYSTEM SET wal_keep_size = '4GB'`,
# then `RESET`).
set -euo pipefail
hub=$1
shift
here=$(cd "$(dirname "$0")/.." && pwd)
wrk_load=${WRK_LOAD:-$here/target/release/examples/wrk-load}
pg="psql -h 127.0.0.1 -U postgres -Atc"
bin=$($pg "select setting from pg_config where name = 'BINDIR'" 2>/dev/null || true)
waldump=${bin:-/usr/lib/postgresql/$($pg "show server_version_num" | cut -c1-2)/bin}/pg_waldump
waldir=$($pg "show data_directory")/pg_wal
log=$(mktemp)
trap 'rm -f "$log"' EXIT

"$wrk_load" --hub "$hub" "$@" --connections 16 --seconds 14 --runs 1 --pgbench no >"$log" 2>&1 &
run=$!
# The hub is selling once wrk is.
until pgrep -x wrk >/dev/null; do
    kill -0 $run 2>/dev/null || { cat "$log"; exit 1; }
    sleep 0.2
done
sleep 3

# Clock ticks (1/100 s) of processes by name: utime + stime.
ticks() {
    local total=0 pid fields
    for pid in $(pgrep -x "$1"); do
        fields=$(cut -d' ' -f14,15 "/proc/$pid/stat" 2>/dev/null) || continue
        total=$((total + ${fields% *} + ${fields#* }))
    done
    echo $total
}
hub_pid=$(pgrep -f "^$hub" | head -1)
hub_ticks() { cut -d' ' -f14,15 "/proc/$hub_pid/stat" | awk '{print $1 + $2}'; }

h1=$(hub_ticks) p1=$(ticks postgres) w1=$(ticks wrk) t1=$(date +%s.%N)
lsn1=$($pg "select pg_current_wal_lsn()")
sleep 6
h2=$(hub_ticks) p2=$(ticks postgres) w2=$(ticks wrk) t2=$(date +%s.%N)
lsn2=$($pg "select pg_current_wal_lsn()")
first=$($pg "select pg_walfile_name('$lsn1')")
last=$($pg "select pg_walfile_name('$lsn2')")
stats=$(cd "$waldir" && "$waldump" -s "$lsn1" -e "$lsn2" --stats=record "$first" "$last")
wait $run

rate=$(grep -oE '^\| 16 \| [0-9]+' "$log" | awk '{print $4}')
python3 - "$rate" "$t1" "$t2" "$h1" "$h2" "$p1" "$p2" "$w1" "$w2" <<EOF
import re, sys
rate, t1, t2 = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
h1, h2, p1, p2, w1, w2 = map(int, sys.argv[4:])
sales = rate * (t2 - t1)
us = lambda a, b: (b - a) * 10_000 / sales
print(f"{rate:.0f} sales/s; processor per sale: hub {us(h1, h2):.0f} us, "
      f"PostgreSQL {us(p1, p2):.0f} us, wrk {us(w1, w2):.0f} us")
total = 0
for line in """$stats""".splitlines():
    m = re.match(r'^(\S+)\s+(\d+)\s+\(\s*[\d.]+\)\s+\d+\s+\(\s*[\d.]+\)\s+\d+\s+\(\s*[\d.]+\)\s+(\d+)', line)
    if m and int(m.group(2)) / sales >= 0.01:
        total += int(m.group(3))
        print(f"  {m.group(1):24s} {int(m.group(2)) / sales:5.2f} a sale {int(m.group(3)) / sales:7.0f} B")
print(f"WAL per sale: {total / sales:.0f} B")
EOF
