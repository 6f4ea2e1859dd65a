#!/usr/bin/env bash
# Reference data for `cargo bench --bench verify` (see ../shared/bench/README.md):
#   PostgreSQL migtui_bench_old.incidents          1M rows (the source)
#   PostgreSQL migtui_bench_new.incidents_same     identical copy
#   PostgreSQL migtui_bench_new.incidents_changed  0.1% updated (title / updated_at +1 s /
#                                                  a json field, a third each), 0.01% deleted
#   MariaDB    migtui_bench.incidents              identical copy (datetime(6), json)
# Idempotent: a table that already has its rows is kept. BENCH_ROWS overrides 1,000,000.
set -euo pipefail
N=${BENCH_ROWS:-1000000}
DATA=${BENCH_DATA:-$(dirname "$0")/../../shared/bench}
PG="psql -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1 -qtA"
MY="mysql -h 127.0.0.1 -uroot --local-infile=1"

rows_pg() { $PG -d "$1" -c "SELECT count(*) FROM $2" 2>/dev/null || echo 0; }

for db in migtui_bench_old migtui_bench_new; do
  $PG -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 \
    || $PG -d postgres -c "CREATE DATABASE $db"
done
if [ "$(rows_pg migtui_bench_old incidents)" != "$N" ]; then
  $PG -d migtui_bench_old -v tbl=incidents -v n="$N" -f "$DATA/incidents-pg.sql"
fi
for t in incidents_same incidents_changed; do
  if [ "$(rows_pg migtui_bench_new $t)" = "0" ] || [ "$t" = incidents_same ] && [ "$(rows_pg migtui_bench_new $t)" != "$N" ]; then
    $PG -d migtui_bench_new -v tbl=$t -v n="$N" -f "$DATA/incidents-pg.sql"
    if [ $t = incidents_changed ]; then
      $PG -d migtui_bench_new <<SQL
WITH c AS (SELECT id FROM incidents_changed
           WHERE ('x' || substr(md5('c' || id), 1, 8))::bit(32)::bigint % 1000 = 0)
UPDATE incidents_changed i SET
  title = CASE WHEN i.id % 3 = 0 THEN i.title || ' (edited)' ELSE i.title END,
  updated_at = CASE WHEN i.id % 3 = 1 THEN i.updated_at + interval '1 second' ELSE i.updated_at END,
  payload = CASE WHEN i.id % 3 = 2 THEN jsonb_set(i.payload, '{source}', '"changed"') ELSE i.payload END
FROM c WHERE i.id = c.id;
DELETE FROM incidents_changed
 WHERE ('x' || substr(md5('d' || id), 1, 8))::bit(32)::bigint % 10000 = 0;
VACUUM ANALYZE incidents_changed;
SQL
    fi
  fi
done
# reladiff refuses json <-> jsonb ("Incompatible types"); it compares json as raw text anyway,
# so its MariaDB -> PostgreSQL runs read views with the payload as text.
for t in incidents_same incidents_changed; do
  $PG -d migtui_bench_new -c "CREATE OR REPLACE VIEW ${t}_text AS SELECT id, organisation_id,
    status, title, severity, created_at, updated_at, payload::text AS payload FROM $t"
done
$MY -e "CREATE DATABASE IF NOT EXISTS migtui_bench CHARACTER SET utf8mb4"
have=$($MY -N -e "SELECT count(*) FROM migtui_bench.incidents" 2>/dev/null || echo 0)
if [ "$have" != "$N" ]; then
  tmp=$(mktemp)
  $PG -d migtui_bench_old -c "COPY (SELECT id, organisation_id, status, title, severity,
      to_char(created_at AT TIME ZONE 'UTC','YYYY-MM-DD HH24:MI:SS.US'),
      to_char(updated_at AT TIME ZONE 'UTC','YYYY-MM-DD HH24:MI:SS.US'), payload::text
      FROM incidents ORDER BY id) TO STDOUT" > "$tmp"
  $MY migtui_bench <<SQL
DROP TABLE IF EXISTS incidents;
CREATE TABLE incidents (
  id BIGINT PRIMARY KEY, organisation_id BIGINT NOT NULL, status VARCHAR(20) NOT NULL,
  title TEXT NOT NULL, severity INT NOT NULL, created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL, payload JSON NOT NULL) DEFAULT CHARSET=utf8mb4;
LOAD DATA LOCAL INFILE '$tmp' INTO TABLE incidents;
ANALYZE TABLE incidents;
SQL
  rm -f "$tmp"
fi
echo "bench data ready: $N rows"
