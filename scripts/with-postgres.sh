#!/usr/bin/env bash
# Runs a command beside a throwaway PostgreSQL cluster, with LOYALTY_TEST_POSTGRES_URL pointing
# at it, then stops the cluster and deletes it, whatever the command did:
#
#   scripts/with-postgres.sh cargo test --all-features
#
# Installs PostgreSQL from Debian's packages if initdb/pg_ctl are missing (as root). The cluster
# lives in a temporary directory, listens only on a Unix socket there (no TCP port), trusts
# local connections and runs as a non-root user (PostgreSQL refuses root: when this script runs
# as root the cluster runs as the `postgres` system user). Its data is thrown away at the end,
# so it runs with fsync off unless LOYALTY_PG_DURABLE=1 (for benchmarks that want real commits).
# The command's exit status is this script's.
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 COMMAND [ARG...]   (e.g. $0 cargo test --all-features)" >&2
    exit 2
fi

log() { echo "with-postgres: $*" >&2; }

# The directory holding initdb, pg_ctl and postgres: Debian's newest, else the ones on PATH.
find_bin_dir() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ]; then
            echo "$dir"
            return
        fi
    done
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v pg_ctl)")"
    fi
}

bin_dir="$(find_bin_dir)"
if [ -z "$bin_dir" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        log "initdb/pg_ctl not found; install PostgreSQL (apt-get install postgresql) or run this as root"
        exit 1
    fi
    log "installing PostgreSQL from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
    bin_dir="$(find_bin_dir)"
    if [ -z "$bin_dir" ]; then
        log "PostgreSQL was installed but initdb/pg_ctl are still missing"
        exit 1
    fi
fi

# Who runs the cluster: this user, or `postgres` (created if need be) when this is root.
as_cluster_user() { "$@"; }
if [ "$(id -u)" -eq 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin postgres
    fi
    if command -v runuser >/dev/null 2>&1; then
        as_cluster_user() { runuser -u postgres -- "$@"; }
    else
        as_cluster_user() { su -s /bin/sh postgres -c "$(printf '%q ' "$@")"; }
    fi
fi

dir="$(mktemp -d /tmp/loyalty-pg.XXXXXX)" # short: a socket path has at most 107 bytes
data="$dir/data"
port=5432 # only names the socket file, which is in our own directory
started=0
cleanup() {
    local status=$?
    if [ "$started" -eq 1 ]; then
        as_cluster_user "$bin_dir/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 \
            || as_cluster_user "$bin_dir/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

chmod 755 "$dir"
if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$dir"
fi
as_cluster_user "$bin_dir/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --locale=C >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    log "initdb failed"
    exit 1
}
durable=off
if [ "${LOYALTY_PG_DURABLE:-0}" = 1 ]; then durable=on; fi
cat >>"$data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir'
port = $port
max_connections = 100
fsync = $durable
synchronous_commit = $durable
full_page_writes = $durable
CONF
if ! as_cluster_user "$bin_dir/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 start >/dev/null; then
    cat "$dir/server.log" >&2 || true
    log "the cluster did not start"
    exit 1
fi
started=1

export LOYALTY_TEST_POSTGRES_URL="postgresql://postgres@/postgres?host=$dir&port=$port"
log "PostgreSQL $("$bin_dir/postgres" --version | awk '{print $3}') on $dir (fsync $durable); LOYALTY_TEST_POSTGRES_URL=$LOYALTY_TEST_POSTGRES_URL"
set +e
"$@"
status=$?
set -e
exit "$status"
