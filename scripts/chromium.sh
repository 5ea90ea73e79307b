#!/usr/bin/env bash
# scripts/chromium.sh: make a headless Chromium available for the browser tests and print
# the path of its executable on stdout (nothing else goes to stdout).
#
# DOCENT_CHROMIUM, when set, names the executable to use (it must exist). Otherwise Debian's
# `chromium` is used, and installed from Debian's archive when missing (as root,
# non-interactively, without recommended packages). Progress and errors go to stderr.
# Exit status: 0 ready, 1 failed.
set -euo pipefail

log() { printf 'chromium: %s\n' "$*" >&2; }
die() { printf 'chromium: error: %s\n' "$*" >&2; exit 1; }
. "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

if [ -n "${DOCENT_CHROMIUM:-}" ]; then
	[ -x "$DOCENT_CHROMIUM" ] || die "DOCENT_CHROMIUM=$DOCENT_CHROMIUM is not an executable"
	printf '%s\n' "$DOCENT_CHROMIUM"
	exit 0
fi
if path=$(command -v chromium); then
	printf '%s\n' "$path"
	exit 0
fi
[ "$(id -u)" = 0 ] || die "chromium is not installed: install Debian's package (sudo apt-get install chromium) or set DOCENT_CHROMIUM"
log "installing chromium from Debian's archive (about 100 MB, once) ..."
apt_install chromium
path=$(command -v chromium) || die "chromium was installed but is not on PATH"
printf '%s\n' "$path"
