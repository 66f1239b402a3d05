#!/usr/bin/env bash
# The project's test command: formatting, vet, and every test with the race
# detector. It needs Go; anything else the tests need it installs itself
# (mosquitto, mosquitto-clients, chromium and, when no PostgreSQL answers,
# postgresql, from Debian's packages).
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

# The portals' browser tests drive Debian's Chromium (package chromium).
if ! command -v chromium >/dev/null 2>&1; then
  echo "== installing chromium"
  if command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
  fi
fi

# The gateway is tested through a real Mosquitto (TLS, a certificate per
# device, an ACL), which the test starts itself on a free port: the server
# must be installed (Debian's mosquitto), and the test then fails, rather
# than skips, if it is missing.
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
  echo "== installing mosquitto"
  if command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q mosquitto >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q mosquitto >/dev/null; }
  fi
  if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
    echo "no mosquitto server, and none could be installed"; exit 1
  fi
fi
export VITALCHAIN_TEST_MOSQUITTO=1

# The cloud's PostgreSQL driver and the failover of cloud processes on it
# are tested against a real server: $VITALCHAIN_TEST_POSTGRES_URL, by default
# 127.0.0.1:5432 (trust authentication, database test). When none answers
# there, this script starts one of its own on port 54329 (installing
# Debian's postgresql if missing) and stops it at the end. Either way the
# tests then fail, rather than skip, if they cannot reach it.
pg_answers() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
if [ -z "${VITALCHAIN_TEST_POSTGRES_URL:-}" ] && ! pg_answers 127.0.0.1 5432; then
  echo "== starting PostgreSQL for the cloud's tests"
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null; }
  fi
  pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$pgbin" ] || { echo "no PostgreSQL server, and none could be installed"; exit 1; }
  pgdir=$(mktemp -d /tmp/vitalchain-pg.XXXXXX)
  as_pg=()
  if [ "$(id -u)" = 0 ]; then # initdb and postgres refuse to run as root
    chown postgres "$pgdir"
    as_pg=(runuser -u postgres --)
  fi
  "${as_pg[@]}" "$pgbin/initdb" -D "$pgdir/data" -A trust -U postgres >/dev/null
  "${as_pg[@]}" "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w \
    -o "-p 54329 -k $pgdir -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
  trap '"${as_pg[@]}" "$pgbin/pg_ctl" -D "$pgdir/data" -m fast stop >/dev/null; rm -rf "$pgdir"' EXIT
  export VITALCHAIN_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:54329/postgres?sslmode=disable"
fi
export VITALCHAIN_TEST_POSTGRES=1

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
