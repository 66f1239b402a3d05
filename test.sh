#!/usr/bin/env bash
# The project's test command: formatting, vet, and every test with the race
# detector. It needs only Go; anything else the tests need it installs itself.
set -euo pipefail
cd "$(dirname "$0")"

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "not gofmt-ed:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== go test -race"
# internal/faults runs a short fault suite across node processes in network
# namespaces: it needs root (CI has it) and fails, saying so, without.
go test -race -count=1 -timeout 20m ./...
