#!/bin/sh
# Runs one redis-sentinel of the sentinel profile (docker-compose.yml). Sentinel rewrites its
# config file with what it learns (the current primary, the replicas, the other sentinels), so
# the file lives in the service's volume and is written here only when it is not there yet: a
# sentinel restarted after a failover must not go back to watching the old primary.
# Environment: REDIS_SENTINEL_PASSWORD (its user `sentinel` on the data nodes, replication.acl)
# and SENTINEL_PASSWORD (its own requirepass: what maskbridge's redis.sentinelPassword holds).
set -eu
conf=/data/sentinel.conf
for var in REDIS_SENTINEL_PASSWORD SENTINEL_PASSWORD; do
  eval "value=\${$var:-}"
  [ -n "$value" ] || { echo "sentinel.sh: $var is not set (sentinel profile: set it in docker/.env)" >&2; exit 1; }
  case "$value" in
    *[!A-Za-z0-9._~-]*) echo "sentinel.sh: $var may hold only letters, digits and -._~" >&2; exit 1 ;;
  esac
done
if [ ! -s "$conf" ]; then
  umask 077
  cat > "$conf.tmp" <<CONF
port 26379
# The data nodes by name (replica-announce-ip), and names given to clients: container addresses change.
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel monitor mymaster redis-primary 6379 2
sentinel auth-user mymaster sentinel
sentinel auth-pass mymaster $REDIS_SENTINEL_PASSWORD
# A primary that has not answered for 5 s is down; two of the three sentinels must agree.
sentinel down-after-milliseconds mymaster 5000
sentinel failover-timeout mymaster 60000
sentinel parallel-syncs mymaster 1
requirepass $SENTINEL_PASSWORD
sentinel sentinel-pass $SENTINEL_PASSWORD
CONF
  mv "$conf.tmp" "$conf"
fi
exec redis-sentinel "$conf"
