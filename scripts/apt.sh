# scripts/apt.sh: sourced by the scripts that install a tool the tests need (chromium.sh,
# libreoffice.sh, node.sh, ocr.sh), after they define die.
#
# apt_install PKG...: installs Debian's packages from its archive (as root, non-interactively,
# without recommended packages), updating the package lists and trying again when the first
# attempt fails. apt-get's output goes to a temporary file, removed on exit; on failure its
# last lines go to stderr and the script dies.
apt_install() {
	aptlog=$(mktemp)
	trap 'rm -f "$aptlog"' EXIT
	if ! apt_get install -y -q --no-install-recommends "$@"; then
		apt_get update -q && apt_get install -y -q --no-install-recommends "$@" ||
			{ tail -n 20 "$aptlog" >&2; die "apt-get could not install $*"; }
	fi
}

apt_get() { DEBIAN_FRONTEND=noninteractive apt-get "$@" >>"$aptlog" 2>&1; }
