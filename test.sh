#!/usr/bin/env bash
# The project's test command: formatting, vet, and every test with the race
# detector. It needs Go; anything else the tests need it installs itself
# (mosquitto-clients, from Debian's packages).
set -euo pipefail
cd "$(dirname "$0")"

# The broker's tests check it from outside with mosquitto's clients.
if ! command -v mosquitto_sub >/dev/null 2>&1; then
  echo "== installing mosquitto-clients"
  if command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q mosquitto-clients >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q mosquitto-clients >/dev/null; }
  fi
fi

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
