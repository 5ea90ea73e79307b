#!/usr/bin/env bash
# scripts/libreoffice.sh: make LibreOffice available for the tests and the demo, to convert the
# legacy binary office formats (DOC, XLS, PPT) to their OOXML successors, and print the path of
# `soffice` on stdout (nothing else goes to stdout).
#
# Debian's libreoffice-core-nogui with its Writer, Calc and Impress components (the variants
# without a GUI, about 45 MB to download) are installed from Debian's archive when missing (as
# root, non-interactively, without recommended packages). Progress and errors go to stderr.
# Exit status: 0 ready, 1 failed.
set -euo pipefail

log() { printf 'libreoffice: %s\n' "$*" >&2; }
die() { printf 'libreoffice: error: %s\n' "$*" >&2; exit 1; }
. "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

pkgs=(libreoffice-core-nogui libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui)

ready() {
	command -v soffice >/dev/null &&
		dpkg-query -W -f='${Status}\n' "${pkgs[@]}" 2>/dev/null | grep -c 'install ok installed' | grep -qx "${#pkgs[@]}"
}

if ! ready; then
	[ "$(id -u)" = 0 ] || die "LibreOffice is not installed: install Debian's packages (sudo apt-get install --no-install-recommends ${pkgs[*]})"
	log "installing ${pkgs[*]} from Debian's archive (about 45 MB, once) ..."
	apt_install "${pkgs[@]}"
	ready || die "${pkgs[*]} were installed but soffice is not on PATH"
fi
command -v soffice
