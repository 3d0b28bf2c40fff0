#!/usr/bin/env bash
# A second PostgreSQL cluster ("second", 127.0.0.1:5433, trust auth,
# database `test`) for the tests that spread tenants over two servers.
# Usage: .ci/pg-second.sh start|stop|status. Idempotent; run as root (it
# acts as user postgres) or as postgres.
set -euo pipefail

port=${SEA_ORM_TENANT_SECOND_PORT:-5433}
name=second
version=$(ls /etc/postgresql | sort -V | tail -n 1)

as_postgres() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

create() {
    if [ ! -d "/etc/postgresql/$version/$name" ]; then
        pg_createcluster "$version" "$name" --port "$port" -- --auth=trust >/dev/null
        # Loopback only, no TLS: a test server, like the main one's trust.
        cat >"/etc/postgresql/$version/$name/pg_hba.conf" <<HBA
local all all trust
host all all 127.0.0.1/32 trust
HBA
        sed -i "s/^ssl = on/ssl = off/" "/etc/postgresql/$version/$name/postgresql.conf"
    fi
}

case "${1:-status}" in
start)
    create
    if ! pg_ctlcluster --skip-systemctl-redirect "$version" "$name" status >/dev/null 2>&1; then
        pg_ctlcluster --skip-systemctl-redirect "$version" "$name" start
    fi
    for _ in $(seq 60); do
        pg_isready -q -h 127.0.0.1 -p "$port" && break
        sleep 1
    done
    pg_isready -q -h 127.0.0.1 -p "$port"
    if ! as_postgres psql -h 127.0.0.1 -p "$port" -U postgres -Atc "SELECT 1 FROM pg_database WHERE datname = 'test'" postgres | grep -q 1; then
        as_postgres psql -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE test" postgres
    fi
    echo "second PostgreSQL cluster is up on 127.0.0.1:$port"
    ;;
stop)
    pg_ctlcluster --skip-systemctl-redirect "$version" "$name" stop || true
    ;;
status)
    pg_ctlcluster --skip-systemctl-redirect "$version" "$name" status
    ;;
*)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
