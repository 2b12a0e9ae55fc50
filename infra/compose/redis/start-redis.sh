#!/bin/sh
# Starts a Redis primary, or with REPLICA_OF=host a replica of it, with infra/redis.conf
# and the password from the compose secret. Redis reads no password from a file, so it
# goes on the command line, visible only inside this container.
set -eu
password="$(cat /run/secrets/redis-password)"
# Announced by name (compose.yaml sets each hostname to the service's): once a failover
# makes any of them a replica, the Sentinels and the brokers reach it through compose's DNS.
set -- /usr/local/etc/redis/redis.conf --requirepass "$password" --masterauth "$password" --replica-announce-ip "$(hostname)"
if [ -n "${REPLICA_OF:-}" ]; then set -- "$@" --replicaof "$REPLICA_OF" 6379; fi
exec redis-server "$@"
