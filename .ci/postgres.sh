#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests that run the sampler on an RDB storage.
#
#   .ci/postgres.sh install     install Debian's postgresql when its binaries are missing (root)
#   .ci/postgres.sh start DIR   create a cluster in DIR and start it on a Unix socket in DIR
#                               (no TCP port); prints its URL for OPTUNA_ISNAS_TEST_POSTGRES_URL
#   .ci/postgres.sh restart DIR [PAUSE]
#                               stop that server (fast: open connections end), wait PAUSE
#                               seconds (default 0) and start it again on the same socket
#   .ci/postgres.sh stop DIR    stop that server and remove DIR
#
# The cluster holds test data only, so it trades durability for speed: fsync and synchronous
# commits are off. The tests (tests/_postgres.py) call `start` themselves when the variable
# is unset; .ci/run starts one server for the whole suite. PG_BINDIR overrides where the
# server binaries are (Debian keeps them off PATH, in /usr/lib/postgresql/<version>/bin).
set -euo pipefail

die() {
    echo "postgres.sh: $*" >&2
    exit 1
}

bindir() {
    if [ -n "${PG_BINDIR:-}" ]; then
        echo "$PG_BINDIR"
        return
    fi
    local newest
    newest=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$newest" ] && [ -x "$newest/initdb" ]; then
        echo "$newest"
    elif command -v initdb >/dev/null; then
        dirname "$(command -v initdb)"
    else
        return 1
    fi
}

# initdb and postgres refuse to run as root: as root, run them as the package's postgres user,
# from / (the caller's directory may be closed to that user; every path given is absolute).
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

install() {
    if bindir >/dev/null; then
        return
    fi
    [ "$(id -u)" = 0 ] || die "no PostgreSQL server binaries; install them (Debian: apt-get install postgresql)"
    export DEBIAN_FRONTEND=noninteractive
    # A fresh machine may have no package lists yet.
    apt-get install -y -q postgresql >/dev/null || {
        apt-get update -q >/dev/null
        apt-get install -y -q postgresql >/dev/null
    }
    bindir >/dev/null || die "apt-get installed postgresql but no initdb was found"
}

start() {
    local dir=$1 bin
    bin=$(bindir) || die "no PostgreSQL server binaries (Debian: apt-get install postgresql)"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ "$(id -u)" = 0 ]; then
        chown postgres "$dir"
    fi
    as_owner "$bin/initdb" -D "$dir/data" -U isnas --auth=trust --no-sync -E UTF8 --locale=C \
        >"$dir/initdb.log" 2>&1 || die "initdb failed: $(tail -n 5 "$dir/initdb.log")"
    launch "$bin" "$dir"
    echo "postgresql://isnas@/postgres?host=$dir"
}

# Start the cluster in $2/data (made by `start`) on a Unix socket in $2; wait until it answers.
launch() {
    local bin=$1 dir=$2
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start -o \
        "-c listen_addresses='' -c unix_socket_directories='$dir' -c max_connections=200 \
         -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >/dev/null \
        || die "the server did not start: $(tail -n 5 "$dir/server.log" 2>/dev/null)"
    "$bin/psql" -h "$dir" -U isnas -d postgres -Atqc "select 1" >/dev/null \
        || die "the server started but does not answer on $dir"
}

# A restart as a crash or maintenance looks to clients: every connection ends, and for PAUSE
# seconds nothing answers on the socket.
restart() {
    local dir=$1 pause=$2 bin
    bin=$(bindir) || die "no PostgreSQL server binaries (Debian: apt-get install postgresql)"
    [ -f "$dir/data/postmaster.pid" ] || die "no server runs in $dir"
    dir=$(cd "$dir" && pwd)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null \
        || die "could not stop the server in $dir"
    sleep "$pause"
    launch "$bin" "$dir"
}

stop() {
    local dir=$1 bin
    if [ -f "$dir/data/postmaster.pid" ] && bin=$(bindir); then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null \
            || echo "postgres.sh: could not stop the server in $dir" >&2
    fi
    # Remove only what `start` made (it writes initdb.log first), never an arbitrary folder.
    if [ -f "$dir/initdb.log" ]; then
        rm -rf "$dir"
    fi
}

case "${1:-}" in
install) install ;;
start) start "${2:?usage: postgres.sh start DIR}" ;;
restart) restart "${2:?usage: postgres.sh restart DIR [PAUSE]}" "${3:-0}" ;;
stop) stop "${2:?usage: postgres.sh stop DIR}" ;;
*) die "usage: postgres.sh install | start DIR | restart DIR [PAUSE] | stop DIR" ;;
esac
