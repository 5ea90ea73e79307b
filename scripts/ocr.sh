#!/usr/bin/env bash
# scripts/ocr.sh: make OCR available for the tests and the demo (Tesseract with its English
# data, and poppler's pdftoppm to render PDF pages) and print the paths of `tesseract` and
# `pdftoppm` on stdout, one a line (nothing else goes to stdout).
#
# Debian's tesseract-ocr, tesseract-ocr-eng and poppler-utils are installed from Debian's
# archive when missing (as root, non-interactively, without recommended packages). Other
# languages: install tesseract-ocr-<lang> (e.g. tesseract-ocr-fra) and set
# DOCENT_OCR_LANGUAGES. Progress and errors go to stderr. Exit status: 0 ready, 1 failed.
set -euo pipefail

log() { printf 'ocr: %s\n' "$*" >&2; }
die() { printf 'ocr: error: %s\n' "$*" >&2; exit 1; }
. "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

ready() {
	command -v tesseract >/dev/null && command -v pdftoppm >/dev/null &&
		tesseract --list-langs 2>/dev/null | grep -qx eng
}

if ! ready; then
	[ "$(id -u)" = 0 ] || die "OCR is not installed: install Debian's packages (sudo apt-get install tesseract-ocr tesseract-ocr-eng poppler-utils)"
	log "installing tesseract-ocr, tesseract-ocr-eng and poppler-utils from Debian's archive (about 40 MB, once) ..."
	apt_install tesseract-ocr tesseract-ocr-eng poppler-utils
	ready || die "tesseract-ocr, tesseract-ocr-eng and poppler-utils were installed but tesseract (with eng) or pdftoppm is not on PATH"
fi
command -v tesseract
command -v pdftoppm
