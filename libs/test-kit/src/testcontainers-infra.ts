#!/usr/bin/env node
// Kafka, the schema registry and Redis as containers, for the test suite where a Docker engine
// runs (VIGIL_TEST_INFRA=testcontainers bash infra/test.sh): the same images infra/compose.yaml
// uses, on ports of this host. Writes KAFKA_BROKERS, SCHEMA_REGISTRY_URL and REDIS_URL to the file
// given, then holds the containers until SIGTERM or SIGINT; testcontainers' reaper
// removes them too if this process dies. Not exercised on the machines Vigil is built on (no engine).
import { writeFileSync } from 'node:fs';
import { GenericContainer, Wait, getContainerRuntimeClient, type StartedTestContainer } from 'testcontainers';
import { freePort } from './processes';

const HELP = `Usage: node libs/test-kit/dist/testcontainers-infra.js <env file>
Starts apache/kafka (KRaft), apicurio/apicurio-registry and redis as containers and writes where
they answer to <env file> (KEY=VALUE lines). Exit status: 0 after a clean stop, 2 without a
Docker engine (the message says what to do), 1 when a container does not start.`;

export const IMAGES = {
  kafka: 'apache/kafka:4.1.1',
  registry: 'apicurio/apicurio-registry:3.3.3',
  redis: 'redis:7.4-alpine',
} as const;

/** A single KRaft node advertising the host port it is published on, so clients outside reach it. */
async function kafka(): Promise<[StartedTestContainer, string]> {
  const port = await freePort();
  const c = await new GenericContainer(IMAGES.kafka)
    .withExposedPorts({ container: 9092, host: port })
    .withEnvironment({
      KAFKA_NODE_ID: '1',
      KAFKA_PROCESS_ROLES: 'broker,controller',
      KAFKA_LISTENERS: 'PLAINTEXT://:9092,CONTROLLER://:9093',
      KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://127.0.0.1:${port}`,
      KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
      KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
      KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9093',
      KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
      KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
    })
    .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
    .withStartupTimeout(120_000)
    .start();
  return [c, `127.0.0.1:${port}`];
}

async function registry(): Promise<[StartedTestContainer, string]> {
  const c = await new GenericContainer(IMAGES.registry)
    .withExposedPorts(8080)
    .withWaitStrategy(Wait.forHttp('/apis/ccompat/v7/subjects', 8080).forStatusCode(200))
    .withStartupTimeout(120_000)
    .start();
  return [c, `http://${c.getHost()}:${c.getMappedPort(8080)}/apis/ccompat/v7`];
}

async function redis(): Promise<[StartedTestContainer, string]> {
  const c = await new GenericContainer(IMAGES.redis)
    .withExposedPorts(6379)
    .withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/))
    .start();
  return [c, `redis://${c.getHost()}:${c.getMappedPort(6379)}`];
}

async function main(): Promise<number> {
  const file = process.argv[2];
  if (!file || file === '--help' || file === '-h') {
    process.stdout.write(`${HELP}\n`);
    return file ? 0 : 2;
  }
  try {
    await getContainerRuntimeClient();
  } catch (e) {
    process.stderr.write(
      `testcontainers-infra: no Docker engine found (${(e as Error).message.split('\n')[0]}): ` +
        'start one (or set DOCKER_HOST), or run the tests on the local infra scripts (unset VIGIL_TEST_INFRA)\n',
    );
    return 2;
  }
  const started: StartedTestContainer[] = [];
  try {
    const [[k, brokers], [r, registryUrl], [d, redisUrl]] = await Promise.all([kafka(), registry(), redis()]);
    started.push(k, r, d);
    writeFileSync(file, `KAFKA_BROKERS=${brokers}\nSCHEMA_REGISTRY_URL=${registryUrl}\nREDIS_URL=${redisUrl}\n`);
    process.stderr.write(`testcontainers-infra: up (${brokers}, ${registryUrl}, ${redisUrl})\n`);
    await new Promise<void>((resolve) => {
      process.once('SIGTERM', resolve);
      process.once('SIGINT', resolve);
    });
    return 0;
  } catch (e) {
    process.stderr.write(`testcontainers-infra: ${(e as Error).message}\n`);
    return 1;
  } finally {
    await Promise.all(started.map((c) => c.stop().catch(() => undefined)));
  }
}

if (require.main === module) void main().then((code) => process.exit(code));
