#!/usr/bin/env bash
# Times the reports over a year of history (load-tests/history.sql): a
# release build of the hub on a throwaway database filled with 50 cajas,
# 400 jornadas and 2,000,000 sales; each report asked RUNS times by curl,
# logged in as an admin; prints the medians. The database is dropped after.
#
#   load-tests/reports.sh            # RUNS=5 DATABASE_SERVER=postgres://postgres@127.0.0.1:5432
set -euo pipefail
cd "$(dirname "$0")/.."

SERVER=${DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}
RUNS=${RUNS:-5}
DB=cajahub_history_$$
URL=$SERVER/$DB
PORT=${PORT:-18080}
HUB=http://127.0.0.1:$PORT
WORK=$(mktemp -d)
hub_pid=

cleanup() {
  [[ -n $hub_pid ]] && kill "$hub_pid" 2>/dev/null && wait "$hub_pid" 2>/dev/null || true
  psql "$SERVER/postgres" -q -c "DROP DATABASE IF EXISTS $DB" || true
  rm -rf "$WORK"
}
trap cleanup EXIT

cargo build --release --quiet
psql "$SERVER/postgres" -q -c "CREATE DATABASE $DB"
target/release/cajahub migrate --database-url "$URL" > /dev/null
echo "filling $DB (a few minutes)…" >&2
fill_start=$(date +%s)
psql "$URL" -v ON_ERROR_STOP=1 -q -f load-tests/history.sql
echo "filled in $(( $(date +%s) - fill_start )) s: $(psql "$URL" -At -c 'SELECT count(*) FROM sales') sales" >&2
printf 'clave-de-la-jefa\n' | target/release/cajahub user add --name jefa --role ADMIN --database-url "$URL" > /dev/null

target/release/cajahub serve --bind "127.0.0.1:$PORT" --database-url "$URL" > "$WORK/hub.log" 2>&1 &
hub_pid=$!
for _ in $(seq 1 100); do
  curl -sf "$HUB/readyz" > /dev/null && break
  sleep 0.2
done

jar=$WORK/cookies
token=$(curl -s -c "$jar" "$HUB/login" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -n 1)
curl -s -b "$jar" -c "$jar" -o /dev/null -w '%{http_code}' \
  --data-urlencode "csrf_token=$token" --data-urlencode "name=jefa" \
  --data-urlencode "secret=clave-de-la-jefa" --data-urlencode "next=/" "$HUB/login" | grep -q 303

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '| report | status | median (ms) | bytes |\n| --- | --- | --- | --- |\n'
for path in \
  "/admin/cajas/reportes" \
  "/admin/cajas/reportes?jornada=200" \
  "/admin/cajas/reportes?desde=2025-10-26&hasta=2026-11-29" \
  "/admin/cajas/reportes.csv?desde=2025-10-26&hasta=2026-11-29" \
  "/admin/jornadas/400" \
  "/admin/jornadas/200"; do
  : > "$WORK/times"
  for _ in $(seq 1 "$RUNS"); do
    curl -s -b "$jar" -o "$WORK/body" -w '%{http_code} %{time_total}\n' "$HUB$path" > "$WORK/one"
    read -r status seconds < "$WORK/one"
    awk -v s="$seconds" 'BEGIN {printf "%.1f\n", s * 1000}' >> "$WORK/times"
  done
  printf '| `%s` | %s | %s | %s |\n' "$path" "$status" "$(median < "$WORK/times")" "$(wc -c < "$WORK/body")"
done
