#!/usr/bin/env bash
# Runs Docent on its built-in defaults: starts PostgreSQL (scripts/db.sh), applies the
# migrations, ingests the demo corpus (testdata/demo), creates one API key for each of two
# demo users, prints curl commands for them and starts the server in the foreground.
#
# Re-runs are cheap: the ingestion skips unchanged documents, and the demo keys are replaced
# (the old ones revoked) so that the printed keys always work. Expects bin/ingest and
# bin/server (`make build`). Ctrl-C stops the server; `make db-down` stops PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."

url=$(scripts/db.sh up | sed -n 's/^DOCENT_DATABASE_URL=//p')
if [ -z "$url" ]; then
	echo "run: scripts/db.sh printed no DOCENT_DATABASE_URL" >&2
	exit 1
fi
export DOCENT_DATABASE_URL="$url"
addr=${DOCENT_ADDR:-127.0.0.1:8080}

bin/ingest migrate
bin/ingest run --source demo testdata/demo

# demo_key NAME PRINCIPAL...: a fresh key for a demo user, printed on stdout.
demo_key() {
	local name=$1
	shift
	local args=()
	for p in "$@"; do
		args+=(--principal "$p")
	done
	bin/server keys revoke "$name" >/dev/null 2>&1 || true # absent on the first run
	bin/server keys create --name "$name" "${args[@]}" 2>/dev/null
}
eng_key=$(demo_key demo-engineer group:engineering user:erin)
hr_key=$(demo_key demo-hr group:hr user:harper)

cat <<EOF

Docent is starting on http://$addr (Ctrl-C stops it).

Two demo users, each with an API key (replaced on every \`make run\`):
  Erin, engineering:  ENG_KEY=$eng_key
  Harper, people team: HR_KEY=$hr_key
Both see the public handbook; only Erin sees engineering's runbooks, only Harper the salary bands.

Ask a question (JSON):
  curl -s http://$addr/v1/answer -H "Authorization: Bearer $eng_key" \\
    -H 'Content-Type: application/json' -d '{"question": "How do I fail over the production database?"}'
The same question as Harper is refused: she cannot see the runbook.
  curl -s http://$addr/v1/answer -H "Authorization: Bearer $hr_key" \\
    -H 'Content-Type: application/json' -d '{"question": "How do I fail over the production database?"}'
Stream an answer (Server-Sent Events):
  curl -sN http://$addr/v1/answer -H "Authorization: Bearer $hr_key" -H 'Accept: text/event-stream' \\
    -H 'Content-Type: application/json' -d '{"question": "What is the salary band for a Senior Robotics Engineer?"}'
Search without an answer:
  curl -s http://$addr/v1/search -H "Authorization: Bearer $eng_key" \\
    -H 'Content-Type: application/json' -d '{"query": "vacation days", "limit": 3}'

EOF
exec bin/server
