#!/usr/bin/env bash
# Starts MariaDB and PostgreSQL on loopback for sqlstore's tests, installing
# Debian's mariadb-server and postgresql when missing, creates the database
# and user "wxrefund" in each, and prints the two export lines the tests
# read:
#
#	eval "$(bash .ci/databases.sh)"
#	(cd sqlstore && go test ./...)
#
# Idempotent: run it again and it finds the servers up. Runs as root (as CI
# and the development machines do). Stop the servers with
# "pg_ctlcluster <version> main stop" and "mysqladmin shutdown".
set -u
log() { echo "databases.sh: $*" >&2; }

need=""
command -v pg_ctlcluster >/dev/null || need="$need postgresql"
command -v mariadbd >/dev/null || command -v mysqld >/dev/null || need="$need mariadb-server"
if [ -n "$need" ]; then
  log "installing:$need"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need) >&2 ||
    { log "could not install:$need"; exit 1; }
fi

# PostgreSQL: the newest cluster Debian created, started on 127.0.0.1:5432.
ver=$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)
if [ -z "$ver" ]; then
  log "no PostgreSQL cluster under /etc/postgresql"
  exit 1
fi
# A server killed without a shutdown leaves a pid and a socket lock file;
# starting again removes them once the old processes are gone, so try a few
# times.
for _ in 1 2 3 4 5; do
  pg_isready -q -h 127.0.0.1 && break
  pg_ctlcluster "$ver" main start >/dev/null 2>&1 || true
  for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 && break; sleep 0.2; done
done
pg_isready -q -h 127.0.0.1 || { log "PostgreSQL did not start (see /var/log/postgresql)"; exit 1; }
su postgres -c "psql -qtc \"SELECT 1 FROM pg_roles WHERE rolname='wxrefund'\"" | grep -q 1 ||
  su postgres -c "psql -qc \"CREATE ROLE wxrefund LOGIN PASSWORD 'wxrefund'\"" >/dev/null
su postgres -c "psql -qtc \"SELECT 1 FROM pg_database WHERE datname='wxrefund'\"" | grep -q 1 ||
  su postgres -c "psql -qc \"CREATE DATABASE wxrefund OWNER wxrefund\"" >/dev/null
echo "export SQLSTORE_POSTGRES_DSN='postgres://wxrefund:wxrefund@127.0.0.1:5432/wxrefund?sslmode=disable'"

# MariaDB, on 127.0.0.1:3306.
for _ in 1 2 3; do
  mysqladmin ping >/dev/null 2>&1 && break
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null
  pgrep -x mysqld_safe >/dev/null || (mysqld_safe --bind-address=127.0.0.1 >/dev/null 2>&1 &)
  for _ in $(seq 1 100); do mysqladmin ping >/dev/null 2>&1 && break; sleep 0.2; done
done
mysqladmin ping >/dev/null 2>&1 || { log "MariaDB did not start (see syslog or /var/lib/mysql/*.err)"; exit 1; }
mysql -e "CREATE DATABASE IF NOT EXISTS wxrefund; CREATE USER IF NOT EXISTS 'wxrefund'@'127.0.0.1' IDENTIFIED BY 'wxrefund';
  GRANT ALL ON wxrefund.* TO 'wxrefund'@'127.0.0.1'; FLUSH PRIVILEGES;" ||
  { log "could not create the MariaDB database"; exit 1; }
echo "export SQLSTORE_MYSQL_DSN='wxrefund:wxrefund@tcp(127.0.0.1:3306)/wxrefund'"
