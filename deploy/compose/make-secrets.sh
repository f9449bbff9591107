#!/bin/sh
# Creates deploy/secrets/ for deploy/compose.yaml: random values, each file readable only by the
# container user that reads it (sfu: uid 10001; postgres: uid 999; coturn: nobody/nogroup 65534).
# Run as root from deploy/ (docker compose, or rootful podman). Never overwrites an existing file.
set -eu
umask 077
mkdir -p secrets
rand() { head -c 48 /dev/urandom | base64 | tr -d '\n=+/'; }
put() { # file owner mode value
  if [ -e "secrets/$1" ]; then echo "secrets/$1 exists: kept"; return; fi
  printf '%s\n' "$4" > "secrets/$1.tmp"
  chown "$2" "secrets/$1.tmp" 2>/dev/null || echo "secrets/$1: could not chown to $2 (not root?): the container may not read it" >&2
  chmod "$3" "secrets/$1.tmp" && mv "secrets/$1.tmp" "secrets/$1"
  echo "secrets/$1 created"
}
pg=$(rand)
put jwt-secret 10001:10001 0400 "$(rand)"
put admin-token 10001:10001 0400 "$(rand)"
put records-keys 10001:10001 0400 "[{\"id\":\"k1\",\"key\":\"$(head -c 32 /dev/urandom | base64 | tr -d '\n')\"}]"
if [ ! -e secrets/postgres-password ]; then
  put postgres-password 999:999 0400 "$pg"
  put store-url 10001:10001 0400 "postgres://sfu:$pg@127.0.0.1:5432/sfu"
elif [ ! -e secrets/store-url ]; then
  echo "secrets/store-url is missing: write postgres://sfu:<secrets/postgres-password>@127.0.0.1:5432/sfu into it" >&2
fi
# Read by both the SFU (owner) and coturn (group nogroup).
put turn-secret 10001:65534 0440 "$(rand)"
