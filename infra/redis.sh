#!/usr/bin/env bash
# Redis for Vigil. Uses 127.0.0.1:6379 when it answers; otherwise starts a redis-server of its own
# (installing the Debian package when the binary is missing and we are root) on the first free port
# from 6380, with its data dir under .vigil/redis.
# Usage: infra/redis.sh up|down|status
# Env: REDIS_URL set => that Redis is used and nothing is started here.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RDIR="$VIGIL_HOME/redis"
PIDFILE="$RDIR/redis.pid"
PORTFILE="$RDIR/port"

pong() { [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ] || [ "$(printf 'PING\r\n' | timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1; cat >&3; head -c 7 <&3" 2>/dev/null | tr -d '\r\n')" = +PONG ]; }

ensure_binary() {
  command -v redis-server >/dev/null && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing redis-server from Debian packages"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null) \
      || die "apt-get install redis-server failed: install Redis 6+ by hand or set REDIS_URL"
  else
    die "redis-server not found and 127.0.0.1:6379 does not answer: apt-get install redis-server, or set REDIS_URL"
  fi
}

up() {
  if [ -n "${REDIS_URL:-}" ]; then log "REDIS_URL=$REDIS_URL set: using it, starting nothing"; return 0; fi
  if pong 6379; then log "redis answers on 127.0.0.1:6379: using it"; set_env REDIS_URL "redis://127.0.0.1:6379"; return 0; fi
  if pid_alive "$PIDFILE" && pong "$(cat "$PORTFILE")"; then set_env REDIS_URL "redis://127.0.0.1:$(cat "$PORTFILE")"; return 0; fi
  ensure_binary
  local port=6380
  while port_open 127.0.0.1 $port; do port=$((port + 1)); done
  mkdir -p "$RDIR"
  log "starting redis-server on 127.0.0.1:$port"
  redis-server --bind 127.0.0.1 --port "$port" --daemonize yes --pidfile "$PIDFILE" --dir "$RDIR" \
    --save "" --appendonly no --logfile "$RDIR/redis.log" || die "redis-server failed to start: see $RDIR/redis.log"
  echo "$port" > "$PORTFILE"
  wait_for 20 "redis" - pong "$port" || die "redis-server did not answer on $port: see $RDIR/redis.log"
  set_env REDIS_URL "redis://127.0.0.1:$port"
}

down() {
  [ -n "${REDIS_URL:-}" ] && { log "REDIS_URL set: nothing local to stop"; return 0; }
  # Only a Redis this script started is stopped; the machine's own 6379 is left alone.
  [ -f "$PIDFILE" ] && stop_pid redis "$PIDFILE" || log "redis: nothing of ours to stop"
}

status() {
  if pong 6379; then echo "redis: up (127.0.0.1:6379, the machine's)"; 
  elif pid_alive "$PIDFILE"; then echo "redis: up (pid $(cat "$PIDFILE"), 127.0.0.1:$(cat "$PORTFILE"))";
  else echo "redis: down"; return 1; fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  -h|--help|help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) echo "usage: $0 up|down|status (--help)" >&2; exit 2 ;;
esac
