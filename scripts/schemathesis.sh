#!/usr/bin/env bash
# Schemathesis (PyPI) against the OpenAPI document the server itself serves: `pgtide run --http` on
# the embedded default, with a token. It generates requests from the document (examples, coverage of
# boundaries, fuzzing and stateful sequences) and fails on any of these checks:
#   not_a_server_error          no 5xx, whatever the input
#   ignored_auth                every protected route refuses a missing or wrong token
#   status_code_conformance     every status is one the document lists
#   content_type_conformance    and response_schema_conformance: bodies are what the document says
#   unsupported_method          undocumented methods answer 405
# The server validates more strictly than the document can say (names, ranges, the task schedule rules),
# so "schema-valid request rejected" is reported as a warning, not a failure.
#
#   scripts/schemathesis.sh [path/to/pgtide]     (default: target/release/pgtide)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-target/release/pgtide}"
port="${PGTIDE_ST_PORT:-18080}"
token="st-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"

# A virtual environment of its own: Debian's system Python refuses `pip install` (PEP 668).
venv="${PGTIDE_ST_VENV:-target/schemathesis-venv}"
if [ ! -x "$venv/bin/st" ]; then
    echo "--- installing schemathesis into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q schemathesis
fi
st="$venv/bin/st"

log=$(mktemp)
"$bin" run --http "127.0.0.1:$port" --api-token "$token" >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT
# pgtide's own probe client: no curl needed.
for _ in $(seq 1 60); do
    "$bin" probe "127.0.0.1:$port" >/dev/null 2>&1 && break
    sleep 1
done
"$bin" probe "127.0.0.1:$port" >/dev/null || { cat "$log"; echo "server did not start"; exit 1; }

"$st" run "http://127.0.0.1:$port/api/openapi.json" \
    -H "Authorization: Bearer $token" \
    --checks not_a_server_error,ignored_auth,status_code_conformance,content_type_conformance,response_schema_conformance,unsupported_method \
    --max-examples 30
if grep -q "panicked" "$log"; then
    cat "$log"
    echo "the server panicked"
    exit 1
fi
