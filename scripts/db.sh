#!/usr/bin/env bash
# scripts/db.sh [up|down|reset]: Docent's PostgreSQL + pgvector, in one idempotent command.
#
#   up (default)  Make a database with pgvector >= 0.8.0 available and print the DSN to use on
#                 stdout as DOCENT_DATABASE_URL=postgres://... (nothing else goes to stdout).
#                 With DOCENT_DATABASE_URL set, only check that server: reachable, and the
#                 vector extension >= 0.8.0 available. Otherwise run a private cluster owned
#                 by this checkout: data in .data/postgres, listening on 127.0.0.1 and a Unix
#                 socket on port DOCENT_DB_PORT (default 54329). Missing packages are installed
#                 from Debian's archive; pgvector is built from Debian's source package when
#                 apt has no binary package for it (the build is cached in ~/.cache/docent).
#   down          Stop the private cluster (and its replica and PgBouncer, when running).
#   reset         Stop the private cluster and delete its data.
#   replica       Start the private cluster (as up) and a hot standby of it: a pg_basebackup
#                 of the cluster streaming from it through a replication slot, on port
#                 DOCENT_DB_REPLICA_PORT (default: the cluster's port + 1). Prints
#                 DOCENT_DATABASE_READ_URLS=postgres://... on stdout.
#   replica-down  Stop the hot standby (its data and slot are kept: it catches up when started;
#                 after more than max_slot_wal_keep_size of WAL it is copied again instead).
#   pgbouncer     Start the private cluster (as up) and Debian's PgBouncer in front of it, in
#                 transaction pooling mode, on port DOCENT_PGBOUNCER_PORT (default: the
#                 cluster's port + 2). Prints DOCENT_PGBOUNCER_URL=postgres://... on stdout.
#   pgbouncer-down  Stop PgBouncer.
#   test-replica  Start the private cluster's disposable hot standby for tests that stop, pause or
#                 otherwise disturb a standby (never the one above, which others may be reading):
#                 its own data directory (.data/test-replica), replication slot and port
#                 DOCENT_DB_TEST_REPLICA_PORT (default: the cluster's port + 3). Needs the
#                 cluster running. Prints DOCENT_TEST_REPLICA_URL=postgres://... on stdout.
#   test-replica-down    Stop it (it catches up through its slot when started again, or is copied
#                        again when its slot was given up).
#   test-replica-pause   Pause its WAL replay (it keeps receiving, stops applying: it lags).
#   test-replica-resume  Resume its WAL replay.
#   hugepages     Reserve huge pages for the cluster's shared_buffers (Linux, root: sysctl
#                 vm.nr_hugepages, until the next boot); `down` and `up` then put the buffers in
#                 them (huge_pages = try). A backend then maps the buffers it reads in far fewer
#                 pages: at 1M chunks a walk of an HNSW graph took half the time.
#
# Progress and errors go to stderr. Exit status: 0 ready, 1 failed, 2 usage error.
set -euo pipefail

readonly PG_MAJOR=15
readonly PGVECTOR_VERSION=0.8.0
# sha256 of Debian's pgvector_0.8.0.orig.tar.gz (the upstream release tarball), checked
# before building so that a changed archive cannot slip a different source in.
readonly PGVECTOR_SHA256=867a2c328d4928a5a9d6f052cd3bc78c7d60228a9b914ad32aa3db88e9de27b0
readonly PGBIN=/usr/lib/postgresql/$PG_MAJOR/bin
readonly PORT=${DOCENT_DB_PORT:-54329}
readonly REPLICA_PORT=${DOCENT_DB_REPLICA_PORT:-$((PORT + 1))}
readonly PGBOUNCER_PORT=${DOCENT_PGBOUNCER_PORT:-$((PORT + 2))}
readonly REPLICA_SLOT=docent_replica
readonly TEST_REPLICA_PORT=${DOCENT_DB_TEST_REPLICA_PORT:-$((PORT + 3))}
readonly TEST_REPLICA_SLOT=docent_test_replica
readonly DB_NAME=docent DB_USER=docent DB_PASSWORD=docent

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT=$root
readonly CONF_SRC=$ROOT/scripts/postgresql.conf
readonly CACHE_DIR=${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/docent

WORK=
trap 'rm -rf "${WORK:-/nonexistent}"' EXIT

log() { printf 'db: %s\n' "$*" >&2; }
die() { printf 'db: error: %s\n' "$*" >&2; exit 1; }

# version_ge A B: A >= B as dotted versions.
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

# as_root CMD...: run a command that needs root (package installs), via sudo when not root.
as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
		sudo -n "$@"
	else
		die "need root to run: $*  (run it yourself, or run this script as root)"
	fi
}

# apt_install PKG...: install Debian packages non-interactively, refreshing the package lists
# once if a package is unknown (a fresh machine or container starts with empty lists).
apt_install() {
	log "installing $* from Debian's archive ..."
	local -a apt=(env DEBIAN_FRONTEND=noninteractive apt-get -y -q --no-install-recommends
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
	local aptlog
	aptlog=$(mktemp)
	if ! as_root "${apt[@]}" install "$@" >"$aptlog" 2>&1; then
		if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get -q update >>"$aptlog" 2>&1 ||
			! as_root "${apt[@]}" install "$@" >>"$aptlog" 2>&1; then
			tail -20 "$aptlog" >&2
			rm -f "$aptlog"
			die "could not install $*"
		fi
	fi
	rm -f "$aptlog"
}

# apt_has PKG: apt knows an installable version of PKG.
apt_has() {
	local candidate
	candidate=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')
	[ -n "$candidate" ] && [ "$candidate" != "(none)" ]
}

vector_control() { echo "/usr/share/postgresql/$PG_MAJOR/extension/vector.control"; }

installed_vector_version() {
	local f
	f=$(vector_control)
	[ -f "$f" ] || return 0
	sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" "$f"
}

# build_pgvector: build Debian's pgvector source package against PostgreSQL 15 and stage the
# installed files in the cache, so that a later install is a copy. Uses a private apt
# configuration holding only a deb-src line: the system's apt sources are never touched.
build_pgvector() {
	local stage=$CACHE_DIR/pgvector-$PGVECTOR_VERSION/stage
	if [ -f "$stage/.complete" ]; then
		return 0
	fi
	log "building pgvector $PGVECTOR_VERSION from Debian's source package (cached in $CACHE_DIR) ..."
	if [ ! -f "/usr/include/postgresql/$PG_MAJOR/server/postgres.h" ] || ! command -v make >/dev/null || ! command -v gcc >/dev/null; then
		apt_install "postgresql-server-dev-$PG_MAJOR" make gcc libc6-dev
	fi
	local work
	work=$(mktemp -d)
	WORK=$work
	mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/src"
	echo "deb-src http://deb.debian.org/debian trixie main" >"$work/sources.list"
	local -a apt=(apt-get -qq
		-o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
		-o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache"
		-o APT::Sandbox::User=root)
	"${apt[@]}" update >&2 || die "could not read Debian's trixie source index"
	(cd "$work/src" && "${apt[@]}" source --download-only "pgvector=$PGVECTOR_VERSION-1" >/dev/null 2>&1) ||
		die "could not download Debian's pgvector $PGVECTOR_VERSION source package"
	local tarball=$work/src/pgvector_$PGVECTOR_VERSION.orig.tar.gz
	echo "$PGVECTOR_SHA256  $tarball" | sha256sum -c --quiet - >&2 ||
		die "pgvector source tarball does not have the expected sha256"
	tar -xzf "$tarball" -C "$work/src"
	local src=$work/src/pgvector-$PGVECTOR_VERSION
	# OPTFLAGS="" drops -march=native so the library runs on any x86-64; with_llvm=no skips
	# the JIT bitcode, which needs clang and which jit=off never uses.
	local -a mk=(make -C "$src" "PG_CONFIG=$PGBIN/pg_config" OPTFLAGS= with_llvm=no)
	"${mk[@]}" -j"$(nproc)" >"$work/build.log" 2>&1 || { tail -20 "$work/build.log" >&2; die "pgvector build failed"; }
	rm -rf "$stage"
	"${mk[@]}" install DESTDIR="$stage" >>"$work/build.log" 2>&1 || { tail -20 "$work/build.log" >&2; die "pgvector staging failed"; }
	touch "$stage/.complete"
}

ensure_packages() {
	if [ ! -x "$PGBIN/postgres" ] || [ ! -x "$PGBIN/pg_ctl" ]; then
		apt_install postgresql-$PG_MAJOR
	fi
	local have
	have=$(installed_vector_version)
	if [ -n "$have" ] && version_ge "$have" "$PGVECTOR_VERSION"; then
		return 0
	fi
	if apt_has postgresql-$PG_MAJOR-pgvector; then
		apt_install postgresql-$PG_MAJOR-pgvector
		have=$(installed_vector_version)
		if [ -n "$have" ] && version_ge "$have" "$PGVECTOR_VERSION"; then
			return 0
		fi
		log "the distribution's pgvector is $have, older than $PGVECTOR_VERSION; building instead"
	fi
	build_pgvector
	log "installing pgvector $PGVECTOR_VERSION into PostgreSQL $PG_MAJOR ..."
	as_root cp -a "$CACHE_DIR/pgvector-$PGVECTOR_VERSION/stage/usr/." /usr/ ||
		die "could not install pgvector"
	have=$(installed_vector_version)
	[ "$have" = "$PGVECTOR_VERSION" ] || die "pgvector install did not take (found '${have:-nothing}')"
}

# --- a server named by DOCENT_DATABASE_URL -------------------------------------------------

check_external() {
	local url=$DOCENT_DATABASE_URL
	command -v psql >/dev/null || apt_install postgresql-client-$PG_MAJOR
	local out
	out=$(PGCONNECT_TIMEOUT=5 psql "$url" -XAtq -v ON_ERROR_STOP=1 -c \
		"select coalesce((select extversion from pg_extension where extname = 'vector'), '') || '|' ||
		        coalesce((select default_version from pg_available_extensions where name = 'vector'), '')" 2>&1) ||
		die "cannot connect to DOCENT_DATABASE_URL: $(printf '%s' "$out" | head -n1)"
	local installed=${out%%|*} available=${out#*|}
	if [ -n "$installed" ]; then
		version_ge "$installed" "$PGVECTOR_VERSION" ||
			die "the vector extension in that database is $installed; Docent needs >= $PGVECTOR_VERSION (ALTER EXTENSION vector UPDATE, as its owner)"
	elif [ -n "$available" ]; then
		version_ge "$available" "$PGVECTOR_VERSION" ||
			die "the server offers pgvector $available; Docent needs >= $PGVECTOR_VERSION"
	else
		die "the server at DOCENT_DATABASE_URL has no vector extension; install pgvector >= $PGVECTOR_VERSION there"
	fi
	echo "DOCENT_DATABASE_URL=$url"
}

# --- the private cluster ---------------------------------------------------------------------

# Where the cluster lives. As root the server runs as the postgres user, which must be able to
# reach the data directory; a checkout under a private home (/root) is not reachable, so the
# data then goes to /var/lib/docent/<hash of the checkout path>, linked from .data/postgres.
setup_paths() {
	STATE=$ROOT/.data
	RUNAS=$(id -un)
	if [ "$(id -u)" -eq 0 ]; then
		RUNAS=postgres
		id postgres >/dev/null 2>&1 || apt_install postgresql-$PG_MAJOR
		# PostgreSQL refuses to run as root, so the postgres user must be able to reach its
		# own binaries. A root directory without the search bit for others (a chroot made in
		# a mktemp -d directory is 0700) prevents that; a standard system's / is 0755.
		if ! runuser -u postgres -- /bin/true 2>/dev/null && [ $((0$(stat -c %a /) & 1)) -eq 0 ]; then
			log "/ is mode $(stat -c %a /): the postgres user cannot run anything; adding o+x as on a standard system"
			chmod o+x /
		fi
		mkdir -p "$STATE"
		if ! runuser -u postgres -- test -x "$STATE"; then
			STATE=/var/lib/docent/$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)
		fi
	fi
	DATA=$STATE/postgres
	LOGFILE=$STATE/postgres.log
	REPLICA_DATA=$STATE/replica
	REPLICA_LOG=$STATE/replica.log
	TEST_REPLICA_DATA=$STATE/test-replica
	TEST_REPLICA_LOG=$STATE/test-replica.log
	BOUNCER_DIR=$STATE/pgbouncer
	SOCKDIR=$STATE/run
	# A Unix socket path must fit in 107 bytes.
	if [ $((${#SOCKDIR} + 20)) -gt 107 ]; then
		SOCKDIR=/tmp/docent-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)
	fi
}

as_pg() {
	if [ "$RUNAS" = "$(id -un)" ]; then
		"$@"
	else
		runuser -u "$RUNAS" -- "$@"
	fi
}

dsn() { echo "postgres://$DB_USER:$DB_PASSWORD@127.0.0.1:${1:-$PORT}/$DB_NAME?sslmode=disable"; }

running() { [ -f "$DATA/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

# The settings file the cluster runs with: the tracked tuning plus this checkout's addresses.
desired_conf() {
	cat "$CONF_SRC"
	printf '\n# Written by scripts/db.sh for this checkout.\n'
	printf "listen_addresses = '127.0.0.1'\nport = %s\nunix_socket_directories = '%s'\n" "$PORT" "$SOCKDIR"
}

init_cluster() {
	log "creating a PostgreSQL $PG_MAJOR cluster in $DATA ..."
	mkdir -p "$STATE" "$ROOT/.data"
	install -d -m 0700 -o "$RUNAS" "$DATA"
	[ "$STATE" = "$ROOT/.data" ] || ln -sfn "$DATA" "$ROOT/.data/postgres"
	# C.UTF-8 so that the text search parser classifies non-ASCII letters as letters.
	as_pg "$PGBIN/initdb" -D "$DATA" -U postgres -E UTF8 --locale=C.UTF-8 \
		--auth-local=trust --auth-host=scram-sha-256 >"$STATE/initdb.log" 2>&1 ||
		{ tail -20 "$STATE/initdb.log" >&2; die "initdb failed"; }
	echo "include_if_exists = 'docent.conf'" | as_pg tee -a "$DATA/postgresql.conf" >/dev/null
}

conf_current() { [ "$(as_pg cat "$DATA/docent.conf" 2>/dev/null)" = "$(desired_conf)" ]; }

# install_conf: write docent.conf; prints "changed" when it differs from what was there.
install_conf() {
	if ! conf_current; then
		desired_conf | as_pg tee "$DATA/docent.conf" >/dev/null
		echo changed
	fi
}

start_cluster() {
	install -d -m 0700 -o "$RUNAS" "$SOCKDIR"
	touch "$LOGFILE" && chown "$RUNAS" "$LOGFILE"
	if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
		die "port $PORT on 127.0.0.1 is taken by another program; set DOCENT_DB_PORT to a free port"
	fi
	log "starting PostgreSQL on 127.0.0.1:$PORT (log: $LOGFILE) ..."
	as_pg "$PGBIN/pg_ctl" -D "$DATA" -l "$LOGFILE" -w -t 60 start >/dev/null ||
		{ tail -20 "$LOGFILE" >&2; die "PostgreSQL did not start"; }
}

psql_admin() {
	as_pg "$PGBIN/psql" -XAtq -v ON_ERROR_STOP=1 -h "$SOCKDIR" -p "$PORT" -U postgres "$@"
}

# bootstrap: the application role and database, and pgvector in template1 so that every new
# database (the test harness clones them) has it: creating the extension needs a superuser,
# and the application role is deliberately not one.
bootstrap() {
	psql_admin -d postgres >/dev/null <<-SQL
		DO \$\$ BEGIN
		  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_USER') THEN
		    CREATE ROLE $DB_USER LOGIN CREATEDB PASSWORD '$DB_PASSWORD';
		  END IF;
		END \$\$;
		SELECT 'CREATE DATABASE $DB_NAME OWNER $DB_USER' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DB_NAME') \gexec
	SQL
	local db
	for db in template1 "$DB_NAME"; do
		psql_admin -d "$db" -c "SET client_min_messages = warning" \
			-c "CREATE EXTENSION IF NOT EXISTS vector" -c "ALTER EXTENSION vector UPDATE" >/dev/null
	done
	as_pg touch "$DATA/docent.bootstrapped"
}

up_local() {
	setup_paths
	# Fast path: already running with the current settings and bootstrapped.
	if running && [ -f "$DATA/docent.bootstrapped" ] && conf_current; then
		dsn | sed 's/^/DOCENT_DATABASE_URL=/'
		return 0
	fi
	ensure_packages
	[ -s "$DATA/PG_VERSION" ] || init_cluster
	local changed
	changed=$(install_conf)
	if running; then
		if [ -n "$changed" ]; then
			log "settings changed; restarting PostgreSQL ..."
			as_pg "$PGBIN/pg_ctl" -D "$DATA" -l "$LOGFILE" -w -t 60 -m fast restart >/dev/null ||
				{ tail -20 "$LOGFILE" >&2; die "PostgreSQL did not restart"; }
		fi
	else
		start_cluster
	fi
	bootstrap
	log "ready"
	dsn | sed 's/^/DOCENT_DATABASE_URL=/'
}

down_local() {
	setup_paths
	test_replica_down
	replica_down
	pgbouncer_down
	if running; then
		as_pg "$PGBIN/pg_ctl" -D "$DATA" -w -t 60 -m fast stop >/dev/null
		log "stopped"
	fi
}

reset_local() {
	down_local
	rm -rf "$DATA" "$LOGFILE" "$STATE/initdb.log" "$ROOT/.data/postgres" \
		"$REPLICA_DATA" "$REPLICA_LOG" "$BOUNCER_DIR" "$TEST_REPLICA_DATA" "$TEST_REPLICA_LOG"
	log "wiped the cluster's data"
}

# --- hot standbys of the private cluster ----------------------------------------------------
#
# Two standbys, made and run alike: "replica", the one a developer reads from
# (DOCENT_DATABASE_READ_URLS), and "test", a disposable one that tests pause, stop and start
# (it holds no one else's reads; small buffers: it serves the tests' few small databases).
# standby_select KIND sets the SB_* variables the functions below work on.

standby_select() {
	case "$1" in
	replica)
		SB_DATA=$REPLICA_DATA SB_PORT=$REPLICA_PORT SB_SLOT=$REPLICA_SLOT SB_LOG=$REPLICA_LOG
		SB_NAME="hot standby" SB_PORTVAR=DOCENT_DB_REPLICA_PORT SB_URLVAR=DOCENT_DATABASE_READ_URLS
		SB_BACKUPLOG=$STATE/basebackup.log SB_EXTRA="" ;;
	test)
		SB_DATA=$TEST_REPLICA_DATA SB_PORT=$TEST_REPLICA_PORT SB_SLOT=$TEST_REPLICA_SLOT SB_LOG=$TEST_REPLICA_LOG
		SB_NAME="test standby" SB_PORTVAR=DOCENT_DB_TEST_REPLICA_PORT SB_URLVAR=DOCENT_TEST_REPLICA_URL
		SB_BACKUPLOG=$STATE/test-basebackup.log SB_EXTRA="shared_buffers = 128MB" ;;
	*) die "standby_select: unknown standby $1" ;;
	esac
}

standby_running() {
	[ -f "$SB_DATA/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$SB_DATA" status >/dev/null 2>&1
}

# The standby's settings: the cluster's tuning, its own port; hot standby answers reads.
standby_conf() {
	cat "$CONF_SRC"
	printf '\n# Written by scripts/db.sh for this checkout'"'"'s %s.\n' "$SB_NAME"
	printf "listen_addresses = '127.0.0.1'\nport = %s\nunix_socket_directories = '%s'\n" "$SB_PORT" "$SOCKDIR"
	printf "hot_standby = on\nhot_standby_feedback = on\n"
	[ -z "$SB_EXTRA" ] || printf '%s\n' "$SB_EXTRA"
}

psql_standby() {
	as_pg "$PGBIN/psql" -XAtq -v ON_ERROR_STOP=1 -h "$SOCKDIR" -p "$SB_PORT" -U postgres -d postgres "$@"
}

# standby_up: copy the cluster into the selected standby if it has no data yet, start it,
# check that it is a standby, and print its URL variable.
standby_up() {
	[ -z "${DOCENT_DATABASE_URL:-}" ] || die "the $SB_NAME needs the private cluster; unset DOCENT_DATABASE_URL"
	# A standby whose slot is gone or was given up (max_slot_wal_keep_size: it stayed stopped
	# while the primary wrote more WAL than that) can never catch up: copy the cluster again.
	if [ -s "$SB_DATA/PG_VERSION" ] && ! standby_running &&
		[ "$(psql_admin -d postgres -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$SB_SLOT' AND wal_status IS DISTINCT FROM 'lost'")" != 1 ]; then
		log "the $SB_NAME's replication slot is gone or lost (it was stopped too long): copying the cluster again"
		as_pg rm -rf "$SB_DATA"
	fi
	if [ ! -s "$SB_DATA/PG_VERSION" ]; then
		log "copying the cluster into a $SB_NAME in $SB_DATA (pg_basebackup) ..."
		rm -rf "$SB_DATA"
		install -d -m 0700 -o "$RUNAS" "$SB_DATA"
		# A slot keeps the WAL the standby has not received yet, so a stopped standby catches
		# up when it starts again; reset drops the slot with the cluster.
		psql_admin -d postgres -c "SELECT pg_drop_replication_slot('$SB_SLOT') FROM pg_replication_slots WHERE slot_name = '$SB_SLOT' AND NOT active" >/dev/null
		as_pg "$PGBIN/pg_basebackup" -h "$SOCKDIR" -p "$PORT" -U postgres -D "$SB_DATA" \
			-X stream -c fast -R -C -S "$SB_SLOT" >"$SB_BACKUPLOG" 2>&1 ||
			{ tail -20 "$SB_BACKUPLOG" >&2; rm -rf "$SB_DATA"; die "pg_basebackup failed"; }
		as_pg rm -f "$SB_DATA/postmaster.pid" "$SB_DATA/docent.bootstrapped"
	fi
	standby_conf | as_pg tee "$SB_DATA/docent.conf" >/dev/null
	if ! standby_running; then
		if (exec 3<>"/dev/tcp/127.0.0.1/$SB_PORT") 2>/dev/null; then
			die "port $SB_PORT on 127.0.0.1 is taken by another program; set $SB_PORTVAR to a free port"
		fi
		touch "$SB_LOG" && chown "$RUNAS" "$SB_LOG"
		log "starting the $SB_NAME on 127.0.0.1:$SB_PORT (log: $SB_LOG) ..."
		as_pg "$PGBIN/pg_ctl" -D "$SB_DATA" -l "$SB_LOG" -w -t 120 start >/dev/null ||
			{ tail -20 "$SB_LOG" >&2; die "the $SB_NAME did not start"; }
	fi
	[ "$(psql_standby -c 'SELECT pg_is_in_recovery()')" = t ] || die "the server on port $SB_PORT is not a standby"
	log "$SB_NAME ready"
	echo "$SB_URLVAR=$(dsn "$SB_PORT")"
}

standby_down() {
	if standby_running; then
		as_pg "$PGBIN/pg_ctl" -D "$SB_DATA" -w -t 60 -m fast stop >/dev/null
		log "$SB_NAME stopped"
	fi
}

replica_up() {
	[ -z "${DOCENT_DATABASE_URL:-}" ] || die "replica needs the private cluster; unset DOCENT_DATABASE_URL"
	up_local >/dev/null
	standby_select replica
	standby_up
}

replica_down() { standby_select replica; standby_down; }

test_replica_down() { standby_select test; standby_down; }

test_replica_up() {
	[ -z "${DOCENT_DATABASE_URL:-}" ] || die "test-replica needs the private cluster; unset DOCENT_DATABASE_URL"
	running || die "the private cluster is not running: start it first (make db)"
	standby_select test
	standby_up
}

# test_replica_replay pause|resume
test_replica_replay() {
	standby_select test
	standby_running || die "the test standby is not running (scripts/db.sh test-replica)"
	psql_standby -c "SELECT pg_wal_replay_$1()" >/dev/null
}

# --- PgBouncer in front of the private cluster -----------------------------------------------

bouncer_running() {
	[ -f "$BOUNCER_DIR/pgbouncer.pid" ] && kill -0 "$(cat "$BOUNCER_DIR/pgbouncer.pid")" 2>/dev/null
}

pgbouncer_up() {
	[ -z "${DOCENT_DATABASE_URL:-}" ] || die "pgbouncer needs the private cluster; unset DOCENT_DATABASE_URL"
	up_local >/dev/null
	command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || apt_install pgbouncer
	local bin
	bin=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
	install -d -m 0700 -o "$RUNAS" "$BOUNCER_DIR"
	# The application role's SCRAM verifier, so that clients authenticate to PgBouncer as they
	# would to PostgreSQL and PgBouncer logs in to the server with the same secret.
	local secret
	secret=$(psql_admin -d postgres -c "SELECT rolpassword FROM pg_authid WHERE rolname = '$DB_USER'")
	[ -n "$secret" ] || die "no password for role $DB_USER"
	printf '"%s" "%s"\n' "$DB_USER" "$secret" | as_pg tee "$BOUNCER_DIR/userlist.txt" >/dev/null
	as_pg chmod 0600 "$BOUNCER_DIR/userlist.txt"
	as_pg tee "$BOUNCER_DIR/pgbouncer.ini" >/dev/null <<-INI
		; Written by scripts/db.sh for this checkout.
		[databases]
		; Every database of the cluster by its own name (the tests clone one per test).
		* = host=127.0.0.1 port=$PORT

		[pgbouncer]
		listen_addr = 127.0.0.1
		listen_port = $PGBOUNCER_PORT
		unix_socket_dir =
		auth_type = scram-sha-256
		auth_file = $BOUNCER_DIR/userlist.txt
		pool_mode = transaction
		max_client_conn = 1000
		default_pool_size = 20
		max_db_connections = 150
		; pgx prepares statements by protocol message; PgBouncer 1.21+ can track them, this
		; one (Debian 12: 1.18) cannot, so Docent describes statements without preparing
		; them when it is told it runs behind a transaction pooler.
		ignore_startup_parameters = extra_float_digits,search_path
		server_reset_query =
		logfile = $BOUNCER_DIR/pgbouncer.log
		pidfile = $BOUNCER_DIR/pgbouncer.pid
	INI
	if bouncer_running; then
		kill -HUP "$(cat "$BOUNCER_DIR/pgbouncer.pid")"
	else
		if (exec 3<>"/dev/tcp/127.0.0.1/$PGBOUNCER_PORT") 2>/dev/null; then
			die "port $PGBOUNCER_PORT on 127.0.0.1 is taken by another program; set DOCENT_PGBOUNCER_PORT to a free port"
		fi
		log "starting PgBouncer (transaction pooling) on 127.0.0.1:$PGBOUNCER_PORT ..."
		as_pg "$bin" -d -q "$BOUNCER_DIR/pgbouncer.ini" ||
			{ tail -20 "$BOUNCER_DIR/pgbouncer.log" >&2; die "PgBouncer did not start"; }
		local i
		for i in $(seq 50); do
			(exec 3<>"/dev/tcp/127.0.0.1/$PGBOUNCER_PORT") 2>/dev/null && break
			sleep 0.1
		done
	fi
	log "PgBouncer ready"
	echo "DOCENT_PGBOUNCER_URL=$(dsn "$PGBOUNCER_PORT")"
}

pgbouncer_down() {
	if bouncer_running; then
		local pid
		pid=$(cat "$BOUNCER_DIR/pgbouncer.pid")
		kill -INT "$pid"
		local i
		for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		log "PgBouncer stopped"
	fi
}

# hugepages reserves enough huge pages for shared_buffers (scripts/postgresql.conf) and 15% of
# PostgreSQL's other shared memory.
hugepages() {
	[ "$(id -u)" = 0 ] || die "hugepages needs root (sysctl vm.nr_hugepages)"
	local size_kb buffers want
	size_kb=$(awk '/^Hugepagesize:/ {print $2}' /proc/meminfo)
	[ -n "$size_kb" ] || die "this kernel offers no huge pages"
	buffers=$(awk -F'[= \t]+' '/^shared_buffers/ {print $2}' "$CONF_SRC")
	case "$buffers" in
	*GB) buffers=$(( ${buffers%GB} * 1024 * 1024 )) ;;
	*MB) buffers=$(( ${buffers%MB} * 1024 )) ;;
	*) die "shared_buffers '$buffers' in $CONF_SRC: want NGB or NMB" ;;
	esac
	want=$(( (buffers * 115 / 100 + size_kb - 1) / size_kb ))
	if [ "$(cat /proc/sys/vm/nr_hugepages)" -lt "$want" ]; then
		sysctl -q -w vm.nr_hugepages="$want"
	fi
	local got
	got=$(cat /proc/sys/vm/nr_hugepages)
	[ "$got" -ge "$want" ] || die "only $got of $want huge pages could be reserved (memory too fragmented: try after a reboot)"
	log "$got huge pages of $size_kb kB reserved; restart the cluster (scripts/db.sh down; scripts/db.sh up) to use them"
}

main() {
	case "${1:-up}" in
	up)
		if [ -n "${DOCENT_DATABASE_URL:-}" ]; then check_external; else up_local; fi
		;;
	down) down_local ;;
	reset) reset_local ;;
	replica) setup_paths && replica_up ;;
	replica-down) setup_paths && replica_down ;;
	pgbouncer) setup_paths && pgbouncer_up ;;
	pgbouncer-down) setup_paths && pgbouncer_down ;;
	test-replica) setup_paths && test_replica_up ;;
	test-replica-down) setup_paths && test_replica_down ;;
	test-replica-pause) setup_paths && test_replica_replay pause ;;
	test-replica-resume) setup_paths && test_replica_replay resume ;;
	hugepages) hugepages ;;
	-h | --help | help) sed -n '2,36p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' ;;
	*)
		echo "usage: scripts/db.sh [up|down|reset|replica|replica-down|pgbouncer|pgbouncer-down|test-replica|test-replica-down|test-replica-pause|test-replica-resume|hugepages]" >&2
		exit 2
		;;
	esac
}

main "$@"
