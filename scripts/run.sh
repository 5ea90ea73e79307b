#!/usr/bin/env bash
# Runs Docent on its built-in defaults: starts PostgreSQL (scripts/db.sh), applies the
# migrations, ingests the demo corpus (testdata/demo), creates one API key for each of two
# demo users and the demo site's keys, prints curl commands and the demo page's address, and
# starts the server in the foreground with the demo site (/demo) on.
#
# Re-runs are cheap: the ingestion skips unchanged documents, and the demo keys are replaced
# (the old ones revoked) so that the printed keys always work. Expects bin/ingest and
# bin/server (`make build`). Ctrl-C stops the server; `make db-down` stops PostgreSQL.
#
# The demo site lets anyone who reaches it sign in as a demo user, so it is on only when
# DOCENT_ADDR is a loopback address (DOCENT_DEMO=false turns it off; any-address forces it,
# e.g. in a container whose port is published on the host's loopback only).
set -euo pipefail
cd "$(dirname "$0")/.."

url=$(scripts/db.sh up | sed -n 's/^DOCENT_DATABASE_URL=//p')
if [ -z "$url" ]; then
	echo "run: scripts/db.sh printed no DOCENT_DATABASE_URL" >&2
	exit 1
fi
export DOCENT_DATABASE_URL="$url"
addr=${DOCENT_ADDR:-127.0.0.1:8080}

# The demo corpus has a scanned page: OCR reads it when Tesseract is installed, which
# scripts/ocr.sh does (as root, as `make test` does). Without it the demo still runs and the
# scan is listed as ocr_unavailable (and read by the first run after OCR is installed).
if ! scripts/ocr.sh >/dev/null; then
	echo "run: OCR is unavailable: the demo's scanned page stays unread (scripts/ocr.sh installs it)" >&2
fi
bin/ingest migrate
bin/ingest run --source demo testdata/demo

# fresh_key NAME ARG...: `server keys create --name NAME ARG...`, replacing the key of that
# name (revoked first; absent on the first run); the new key on stdout.
fresh_key() {
	local name=$1 log
	shift
	bin/server keys revoke "$name" >/dev/null 2>&1 || true
	log=$(mktemp)
	if ! bin/server keys create --name "$name" "$@" 2>"$log"; then
		cat "$log" >&2
		rm -f "$log"
		return 1
	fi
	rm -f "$log"
}
eng_key=$(fresh_key demo-engineer --principal group:engineering --principal user:erin@northwind.example)
hr_key=$(fresh_key demo-hr --principal group:hr --principal user:harper@northwind.example)

# The demo site (/demo) is a host site on this server's own origin, as a browser names it:
# both loopback spellings, so that http://localhost:PORT/demo works too.
host=${addr%:*}
port=${addr##*:}
host=${host#[}
host=${host%]}
demo=${DOCENT_DEMO:-}
if [ -z "$demo" ]; then
	case $host in
	127.* | localhost | ::1) demo=true ;;
	*)
		demo=false
		echo "run: the demo site stays off: $addr is not a loopback address (DOCENT_DEMO=any-address forces it)" >&2
		;;
	esac
fi
demo_url=
case $demo in
true | 1 | on | any-address)
	origins=(--origin "http://127.0.0.1:$port" --origin "http://localhost:$port")
	if [ "$host" = ::1 ]; then
		origins+=(--origin "http://[::1]:$port")
	fi
	# The site's backend mints sessions for its users (ids @northwind.example) with the groups
	# the demo users have; the public visitor's widget key sees the handbook.
	DOCENT_DEMO_ISSUER_KEY=$(fresh_key demo-site-sessions --session-issuer "${origins[@]}" \
		--user-domain northwind.example --group engineering --group hr)
	DOCENT_DEMO_WIDGET_KEY=$(fresh_key demo-site-public --widget "${origins[@]}" --principal public)
	export DOCENT_DEMO=$demo DOCENT_DEMO_ISSUER_KEY DOCENT_DEMO_WIDGET_KEY
	case $host in
	127.* | localhost | ::1) demo_url="http://$addr/demo" ;;
	*) demo_url="http://127.0.0.1:$port/demo" ;;
	esac
	;;
*) export DOCENT_DEMO=false ;;
esac

cat <<EOF

Docent is starting on http://$addr (Ctrl-C stops it).
${demo_url:+
The demo site: open $demo_url in a browser, switch between Erin, Harper and a public
visitor, and ask the widget. (Each is signed in on the demo site, whose backend asks Docent
for a 15-minute session for them: docs/widget.md.)
}
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
