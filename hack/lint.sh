#!/usr/bin/env bash
# gofmt and go vet over the whole module.
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet -tags "$CRISP_TAGS" ./...
log "lint passed"
