#!/bin/sh
# Starts a Sentinel watching the primary as "portcullis". Sentinel rewrites its own
# configuration as the topology changes, so the file is written at start into /data (a
# tmpfs), with the password from the compose secret.
set -eu
password="$(cat /run/secrets/redis-password)"
cat > /data/sentinel.conf <<CONF
port 26379
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip $(hostname)
sentinel monitor portcullis redis-primary 6379 2
sentinel auth-pass portcullis $password
sentinel down-after-milliseconds portcullis 5000
sentinel failover-timeout portcullis 30000
sentinel parallel-syncs portcullis 1
requirepass $password
sentinel sentinel-pass $password
CONF
exec redis-sentinel /data/sentinel.conf
