#!/usr/bin/env bash
# scripts/node.sh: make Node.js and npm available for the test of the official openai client
# (internal/api/openai_client_test.go) and print the path of node on stdout (nothing else
# goes to stdout).
#
# When node or npm is missing, Debian's `nodejs` and `npm` are installed from Debian's
# archive (as root, non-interactively, without recommended packages). Progress and errors go
# to stderr. Exit status: 0 ready, 1 failed.
set -euo pipefail

log() { printf 'node: %s\n' "$*" >&2; }
die() { printf 'node: error: %s\n' "$*" >&2; exit 1; }
. "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

if path=$(command -v node) && command -v npm >/dev/null; then
	printf '%s\n' "$path"
	exit 0
fi
[ "$(id -u)" = 0 ] || die "node or npm is not installed: install Node.js 20 or later with npm (sudo apt-get install nodejs npm)"
log "installing nodejs and npm from Debian's archive (once) ..."
apt_install nodejs npm
path=$(command -v node) || die "nodejs was installed but node is not on PATH"
command -v npm >/dev/null || die "npm was installed but is not on PATH"
printf '%s\n' "$path"
