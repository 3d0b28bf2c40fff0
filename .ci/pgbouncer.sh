#!/usr/bin/env bash
# PgBouncer for the pooler tests: transaction mode on 127.0.0.1:6432 in front
# of the local Postgres (127.0.0.1:5432), configured by .ci/pgbouncer/.
#
#   .ci/pgbouncer.sh start     start it (nothing to do when it already answers)
#   .ci/pgbouncer.sh stop      stop it (nothing to do when it is not running)
#   .ci/pgbouncer.sh restart   stop, start, and wait until it answers again
#   .ci/pgbouncer.sh status    exit 0 when it answers, 3 when it does not
#
# It runs as user postgres (PgBouncer refuses root), daemonised, with its
# config, pid and log in RUN_DIR. Debian's `pgbouncer` package provides
# /usr/sbin/pgbouncer; .ci/run installs it when missing.
set -euo pipefail
cd "$(dirname "$0")"

RUN_DIR=/var/tmp/sot-pgbouncer
BIN=${PGBOUNCER_BIN:-/usr/sbin/pgbouncer}
PORT=6432
INI=$RUN_DIR/pgbouncer.ini
PIDFILE=$RUN_DIR/pgbouncer.pid

answers() {
    PGCONNECT_TIMEOUT=2 psql -w -h 127.0.0.1 -p "$PORT" -U postgres -d test \
        -Atqc 'select 1' >/dev/null 2>&1
}

# The pid of the PgBouncer this script started, if it is alive.
our_pid() {
    local pid
    [ -s "$PIDFILE" ] || return 1
    pid=$(cat "$PIDFILE")
    [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = pgbouncer ] || return 1
    echo "$pid"
}

wait_until() {
    local what=$1 secs=$2
    shift 2
    for _ in $(seq $((secs * 5))); do
        if "$@"; then
            return 0
        fi
        sleep 0.2
    done
    echo "PgBouncer: $what within $secs s (log: $RUN_DIR/pgbouncer.log)" >&2
    tail -n 20 "$RUN_DIR/pgbouncer.log" >&2 2>/dev/null || true
    return 1
}

not_running() { ! our_pid >/dev/null; }

start() {
    if answers; then
        echo "PgBouncer is running on 127.0.0.1:$PORT"
        return 0
    fi
    if ! our_pid >/dev/null; then
        [ -x "$BIN" ] || {
            echo "PgBouncer: $BIN missing (apt-get install -y pgbouncer)" >&2
            return 1
        }
        if ss -Hltn "sport = :$PORT" 2>/dev/null | grep -q .; then
            echo "PgBouncer: port $PORT is taken by another process:" >&2
            ss -Hltnp "sport = :$PORT" >&2 || true
            return 1
        fi
        if [ "$(id -u)" = 0 ]; then
            install -d -o postgres -g postgres -m 0755 "$RUN_DIR"
            install -o postgres -g postgres -m 0644 pgbouncer/pgbouncer.ini pgbouncer/userlist.txt "$RUN_DIR/"
            "$BIN" -d -u postgres "$INI"
        elif [ "$(id -un)" = postgres ]; then
            install -d -m 0755 "$RUN_DIR"
            install -m 0644 pgbouncer/pgbouncer.ini pgbouncer/userlist.txt "$RUN_DIR/"
            "$BIN" -d "$INI"
        else
            echo "PgBouncer: run this as root or as postgres" >&2
            return 1
        fi
    fi
    wait_until "did not answer" 30 answers
    echo "PgBouncer is up on 127.0.0.1:$PORT (pid $(our_pid || echo '?'))"
}

stop() {
    local pid
    if pid=$(our_pid); then
        # SIGTERM: immediate shutdown, client and server connections closed.
        kill -TERM "$pid"
        wait_until "did not stop" 10 not_running
        echo "PgBouncer stopped"
    else
        echo "PgBouncer is not running"
    fi
    rm -f "$PIDFILE"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
restart)
    stop
    start
    ;;
status)
    if answers; then
        echo "PgBouncer is running on 127.0.0.1:$PORT (pid $(our_pid || echo '?'))"
    else
        echo "PgBouncer is not answering on 127.0.0.1:$PORT"
        exit 3
    fi
    ;;
*)
    echo "usage: $0 start|stop|restart|status" >&2
    exit 2
    ;;
esac
