#!/usr/bin/env bash
# Runs schemathesis against a live `gatehouse api` (a fresh database on the local
# PostgreSQL), bounded in examples and time, and fails on any 500 or any answer that
# breaks the OpenAPI document. Usage: ops/schemathesis/run.sh [max examples per operation]
set -euo pipefail
cd "$(dirname "$0")/../.."
examples=${1:-25}
port=${SCHEMATHESIS_PORT:-18088}
db=gatehouse_schemathesis_$$
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db"
export GATEHOUSE_LISTEN="127.0.0.1:$port"
export GATEHOUSE_ADMIN_TOKEN="schemathesis-admin-token-0123456789"
export GATEHOUSE_ENCRYPTION_KEY="$(python3 -c 'import base64,os;print(base64.b64encode(os.urandom(32)).decode())')"
export GATEHOUSE_API_RATE_LIMIT_PER_MINUTE=1000000
export TELEGRAM_API_URL="http://127.0.0.1:9"   # nothing is ever called on the request path
export RUST_LOG=warn
bin=${CARGO_TARGET_DIR:-target}/debug/gatehouse
[ -n "${SCHEMATHESIS_NO_BUILD:-}" ] || cargo build --quiet --bin gatehouse
"$bin" migrate
"$bin" api & api=$!
cleanup() {
  kill "$api" 2>/dev/null || true
  wait "$api" 2>/dev/null || true
  psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
created=$(curl -fs -X POST "http://127.0.0.1:$port/v1/projects" -H "Authorization: Bearer $GATEHOUSE_ADMIN_TOKEN" \
  -H 'Content-Type: application/json' -d '{"handle":"fuzzed","name":"Fuzzed","owner_telegram_id":1}')
export SCHEMATHESIS_PROJECT=$(python3 -c 'import json,sys;print(json.load(sys.stdin)["data"]["project_id"])' <<<"$created")
export SCHEMATHESIS_KEY=$(python3 -c 'import json,sys;print(json.load(sys.stdin)["data"]["api_key"])' <<<"$created")
schemathesis --config-file ops/schemathesis/schemathesis.toml run "http://127.0.0.1:$port/v1/openapi.json" \
  --url "http://127.0.0.1:$port" --max-examples "$examples" --max-time 240 --seed 1 \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
  --phases examples,coverage,fuzzing --workers 2 --report-junit-path "${SCHEMATHESIS_REPORT:-/tmp/schemathesis.xml}"
