#!/usr/bin/env bash
# A second, secured Kafka node for the security tests (not part of up.sh): KRaft, one node, SASL on
# every client listener with the StandardAuthorizer denying what no ACL allows. Listeners:
# SASL_PLAINTEXT on 127.0.0.1:9392 and SASL_SSL on 127.0.0.1:9393 (a CA made here with openssl;
# the broker's key and certificate as a PEM keystore); controller on 9394 (PLAINTEXT, local only).
# Mechanisms PLAIN and SCRAM-SHA-512; SCRAM users are created with Kafka's own StorageTool when the
# storage is formatted: admin (super user) and one per service (heartbeat, state-sync, notifier,
# backup-orchestrator, agent). Passwords are random, written to .vigil/kafka-secure/secrets/<user>
# (0600) for *_FILE variables. Writes KAFKA_SECURE_SASL_BROKERS, KAFKA_SECURE_TLS_BROKERS,
# KAFKA_SECURE_CA_FILE and KAFKA_SECURE_SECRETS to .vigil/infra.env.
# Usage: infra/kafka-secure.sh up|down|status|wipe
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SASL_PORT="${KAFKA_SECURE_PORT:-9392}"
TLS_PORT=$((SASL_PORT + 1))
CONTROLLER_PORT=$((SASL_PORT + 2))
JARS="$INFRA_DIR/kafka/target/dependency"
SDIR="$VIGIL_HOME/kafka-secure"
PIDFILE="$SDIR/kafka.pid"
PROPS="$SDIR/server.properties"
SECRETS="$SDIR/secrets"
TLS="$SDIR/tls"
CLUSTER_ID="dmlnaWwtc2VjdXJlLTAwMQ"
USERS=(admin heartbeat state-sync notifier backup-orchestrator agent)

secret() { cat "$SECRETS/$1"; }

make_secrets() {
  mkdir -p "$SECRETS" && chmod 700 "$SECRETS"
  local u
  for u in "${USERS[@]}"; do
    [ -f "$SECRETS/$u" ] || (umask 077; openssl rand -hex 16 > "$SECRETS/$u")
  done
}

make_tls() {
  [ -f "$TLS/keystore.pem" ] && return 0
  command -v openssl >/dev/null || die "openssl not found: apt-get install openssl"
  mkdir -p "$TLS"
  (cd "$TLS" && {
    openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj /CN=vigil-local-kafka-ca -keyout ca.key -out ca.pem &&
    openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr &&
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > san.ext &&
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 365 -extfile san.ext -out server.pem &&
    openssl pkcs8 -topk8 -nocrypt -in server.key -out server.pk8 &&
    cat server.pk8 server.pem > keystore.pem
  } > "$TLS/openssl.log" 2>&1) || die "making the TLS certificates failed: see $TLS/openssl.log"
}

write_props() {
  mkdir -p "$SDIR/data" "$SDIR/logs"
  local plain_jaas="org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\" password=\"$(secret admin)\" user_admin=\"$(secret admin)\";"
  local scram_jaas="org.apache.kafka.common.security.scram.ScramLoginModule required;"
  (umask 077; cat > "$PROPS" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$CONTROLLER_PORT
listeners=SASL_PLAINTEXT://127.0.0.1:$SASL_PORT,SASL_SSL://127.0.0.1:$TLS_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=SASL_PLAINTEXT://127.0.0.1:$SASL_PORT,SASL_SSL://127.0.0.1:$TLS_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=$plain_jaas
listener.name.sasl_ssl.plain.sasl.jaas.config=$plain_jaas
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=$scram_jaas
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=$scram_jaas
ssl.keystore.type=PEM
ssl.keystore.location=$TLS/keystore.pem
# What no ACL allows is denied. The controller listener is local and PLAINTEXT, so its principal
# (ANONYMOUS) is a super user, as the broker's own requests to the controller need.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin;User:ANONYMOUS
log.dirs=$SDIR/data
PROPS
  single_node_kafka_props >> "$PROPS"
  )
}

JAVA_ARGS=(-Xms128m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true
  "-Dlog4j2.configurationFile=$INFRA_DIR/kafka/log4j2.properties" "-Dkafka.logs.dir=$SDIR/logs" -cp "$JARS/*")

ready() { port_open 127.0.0.1 "$SASL_PORT" && grep -q "Kafka Server started" "$SDIR/logs/server.log" 2>/dev/null; }

record() {
  set_env KAFKA_SECURE_SASL_BROKERS "127.0.0.1:$SASL_PORT"
  set_env KAFKA_SECURE_TLS_BROKERS "127.0.0.1:$TLS_PORT"
  set_env KAFKA_SECURE_CA_FILE "$TLS/ca.pem"
  set_env KAFKA_SECURE_SECRETS "$SECRETS"
}

up() {
  if pid_alive "$PIDFILE"; then
    wait_for 60 "secured kafka (already running)" "$PIDFILE" ready || die "secured kafka runs but does not answer on $SASL_PORT: see $SDIR/logs/server.log"
    record; return 0
  fi
  local p
  for p in "$SASL_PORT" "$TLS_PORT" "$CONTROLLER_PORT"; do
    port_open 127.0.0.1 "$p" && die "port $p is in use: stop that process or set KAFKA_SECURE_PORT (it uses that port and the next two)"
  done
  JAVA=$(find_java 17)
  bash "$INFRA_DIR/kafka.sh" fetch
  make_secrets
  make_tls
  write_props
  if [ ! -f "$SDIR/data/meta.properties" ]; then
    log "formatting the secured node's storage, with SCRAM-SHA-512 users ${USERS[*]}"
    local scram=() u
    for u in "${USERS[@]}"; do scram+=(--add-scram "SCRAM-SHA-512=[name=$u,password=$(secret "$u")]"); done
    "$JAVA" "${JAVA_ARGS[@]}" kafka.tools.StorageTool format --standalone -t "$CLUSTER_ID" -c "$PROPS" "${scram[@]}" \
      > "$SDIR/logs/format.log" 2>&1 || die "storage format failed: see $SDIR/logs/format.log"
  fi
  rm -f "$SDIR/logs/server.log"
  log "starting the secured kafka node: SASL 127.0.0.1:$SASL_PORT, SASL_SSL 127.0.0.1:$TLS_PORT"
  nohup "$JAVA" "${JAVA_ARGS[@]}" kafka.Kafka "$PROPS" > "$SDIR/logs/stdout.log" 2>&1 < /dev/null &
  echo $! > "$PIDFILE"
  if ! wait_for 120 "secured kafka" "$PIDFILE" ready; then
    pid_alive "$PIDFILE" || die "secured kafka exited during start: see $SDIR/logs/server.log and $SDIR/logs/stdout.log"
    die "secured kafka did not answer on $SASL_PORT within 120s: see $SDIR/logs/server.log"
  fi
  record
}

down() { [ -f "$PIDFILE" ] && stop_pid "secured kafka" "$PIDFILE" || log "secured kafka: nothing of ours to stop"; }

status() {
  if pid_alive "$PIDFILE" && ready; then echo "secured kafka: up (pid $(cat "$PIDFILE"), SASL 127.0.0.1:$SASL_PORT, SASL_SSL 127.0.0.1:$TLS_PORT)"
  else echo "secured kafka: down"; return 1; fi
}

verb_wipe() { down; rm -rf "$SDIR"; log "secured kafka data, users and certificates removed"; }

component_main "$0" "$@"
