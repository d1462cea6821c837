#!/bin/bash
# Runs Go test binaries inside a crisp test guest, the way "go test" would:
# each binary in its package directory, with a "ok"/"FAIL" summary line per
# package. vm-test.sh go-test builds the binaries on the host and ships them
# with a manifest.
#
# usage: go-test.sh MANIFEST [TESTFLAG...]
#   MANIFEST lines: IMPORT_PATH PACKAGE_DIR BINARY_PATH
set -uo pipefail

manifest=${1:?usage: go-test.sh MANIFEST [TESTFLAG...]}
shift
failed=0
while read -r pkg dir bin; do
	start=$EPOCHREALTIME
	# Like go test: a default timeout that a later -test.timeout overrides.
	(cd "$dir" && "$bin" -test.timeout=10m "$@") </dev/null
	rc=$?
	secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }')
	if ((rc == 0)); then
		printf 'ok  \t%s\t%ss\n' "$pkg" "$secs"
	else
		printf 'FAIL\t%s\t%ss\n' "$pkg" "$secs"
		failed=1
	fi
done <"$manifest"
if ((failed)); then
	echo FAIL
	exit 1
fi
