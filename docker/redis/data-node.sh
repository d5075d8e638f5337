#!/bin/sh
# Runs a data node of the sentinel profile (docker-compose.yml): redis-server with users.acl
# plus replication.acl (start.sh adds the passwords), replicating as user `replication`
# (REDIS_REPLICATION_PASSWORD: a primary needs it too, for when a failover makes it a replica).
# Arguments: more redis-server options (--replica-announce-ip NAME, --replicaof HOST PORT).
set -eu
[ -n "${REDIS_REPLICATION_PASSWORD:-}" ] || { echo "data-node.sh: REDIS_REPLICATION_PASSWORD is not set (sentinel profile: set it in docker/.env)" >&2; exit 1; }
dir=/etc/maskbridge-redis
exec sh "$dir/start.sh" "$dir/users.acl,$dir/replication.acl" /tmp/maskbridge-users.acl \
  redis-server --appendonly yes --aclfile /tmp/maskbridge-users.acl \
  --masteruser replication --masterauth "$REDIS_REPLICATION_PASSWORD" "$@"
