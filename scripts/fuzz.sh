#!/usr/bin/env bash
# scripts/fuzz.sh [-t DURATION] [-j JOBS] [TARGET...]: a fuzzing campaign over the parsers.
#
# Runs each fuzz target (all of those below by default, or the ones named, as Package.Target,
# Package its path under internal/, or just Target) for DURATION (default 10m), one fuzzing
# worker each, JOBS targets at a time (default 1), and prints one line per target: executions,
# new corpus entries, PASS or FAIL. A failing input is kept by `go test` under the package's
# testdata/fuzz/, which the normal test run replays; each target's output is in .data/fuzz/.
# The shared evaluation data seeds the corpora of most targets (DOCENT_EVAL_DATA, default
# ../shared/data). Exit status: 0 when every target passed, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=10m
jobs=1
while getopts "t:j:h" opt; do
	case $opt in
	t) duration=$OPTARG ;;
	j) jobs=$OPTARG ;;
	*)
		sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
		exit 2
		;;
	esac
done
shift $((OPTIND - 1))

# Every parser of untrusted input: document formats, tag files, tokens, request bodies.
all=(
	extract.FuzzMarkdown extract.FuzzMarkdownNesting extract.FuzzHTML extract.FuzzPlainText
	extract.FuzzFrontMatterYAML extract.FuzzFrontMatterTOML extract.FuzzFrontMatterJSON
	extract.FuzzJSONL extract.FuzzJSONLRecords extract.FuzzSourceURL extract.FuzzPDF extract.FuzzExtractChild
	extract.FuzzChildFrames extract.FuzzLegacyInspect extract/textnorm.FuzzCollapse
	acl.FuzzParseFile
	auth.FuzzCheckJSON auth.FuzzOrigin auth.FuzzSessionToken acl.FuzzCanonicalName
	api.FuzzCheckEncoding api.FuzzPrefersStream
	chunk.FuzzSplit chunk.FuzzCountTokens
	answer.FuzzValidate answer.FuzzExtractive
)
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	targets=("${all[@]}")
fi
for i in "${!targets[@]}"; do
	t=${targets[$i]}
	if [[ $t != *.* ]]; then
		for a in "${all[@]}"; do
			if [ "${a#*.}" = "$t" ]; then targets[$i]=$a; fi
		done
	fi
done

export DOCENT_EVAL_DATA=${DOCENT_EVAL_DATA:-$PWD/../shared/data}
mkdir -p .data/fuzz

# run PKG.TARGET: fuzz one target and print its line.
run() {
	local pkg=${1%%.*} target=${1#*.} log=.data/fuzz/${1//\//-}.log status=PASS
	if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$duration" -parallel 1 \
		"./internal/$pkg" >"$log" 2>&1; then
		status=FAIL
	fi
	# The last progress line: "fuzz: elapsed: 10m0s, execs: 123456 (205/sec), new interesting: 12 (total: 80)"
	local progress
	progress=$(grep -o 'execs: [0-9]* ([0-9]*/sec), new interesting: [0-9]* (total: [0-9]*)' "$log" | tail -1 || true)
	printf '%-32s %-5s %s %s\n' "$1" "$status" "$duration" "${progress:-no progress line (see $log)}"
	[ $status = PASS ]
}
export -f run
export duration

printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run {}'
