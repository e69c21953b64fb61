#!/usr/bin/env bash
# Make sure the Postgres and Redis the tests use are up on 127.0.0.1, starting them if they are installed.
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

if ! pg_up; then
  echo "Postgres is not answering on 127.0.0.1:5432: starting it"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  for _ in $(seq 30); do pg_up && break; sleep 1; done
fi
if ! redis_up; then
  echo "Redis is not answering on 127.0.0.1:6379: starting it"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 30); do redis_up && break; sleep 1; done
fi
pg_up || { echo "ERROR: Postgres is still down on 127.0.0.1:5432 (install postgresql, trust auth)" >&2; exit 1; }
redis_up || { echo "ERROR: Redis is still down on 127.0.0.1:6379 (install redis-server)" >&2; exit 1; }
echo "Postgres and Redis are up"
