import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { kafkaJsSecurity, kafkaSecurityFromEnv } from './security';

const dir = mkdtempSync(path.join(tmpdir(), 'vigil-kafka-security-'));
const ca = path.join(dir, 'ca.pem');
writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');

describe('Kafka security from the environment', () => {
  it('is PLAINTEXT when nothing is set', () => {
    assert.deepEqual(kafkaSecurityFromEnv({}), {});
    assert.deepEqual(kafkaJsSecurity(kafkaSecurityFromEnv({ KAFKA_TLS: 'false' })), {});
  });

  it('gives KafkaJS SASL and TLS with a CA of its own', () => {
    const security = kafkaSecurityFromEnv({
      KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
      KAFKA_SASL_USERNAME: 'notifier',
      KAFKA_SASL_PASSWORD: 'pw',
      KAFKA_TLS_CA_FILE: ca,
    });
    assert.deepEqual(kafkaJsSecurity(security), {
      sasl: { mechanism: 'scram-sha-512', username: 'notifier', password: 'pw' },
      ssl: { ca: ['-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'] },
    });
    assert.equal(kafkaSecurityFromEnv({ KAFKA_TLS: 'true' }).tls, true);
  });

  it('names what to fix: an unknown mechanism, a missing password, an unreadable CA, a bad KAFKA_TLS', () => {
    assert.throws(
      () => kafkaSecurityFromEnv({ KAFKA_SASL_MECHANISM: 'gssapi' }),
      /KAFKA_SASL_MECHANISM=gssapi: one of plain/,
    );
    assert.throws(
      () => kafkaSecurityFromEnv({ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u' }),
      /KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD \(or _FILE\) are needed/,
    );
    assert.throws(
      () => kafkaSecurityFromEnv({ KAFKA_TLS_CA_FILE: path.join(dir, 'nope') }),
      /KAFKA_TLS_CA_FILE=.* cannot be read: ENOENT/,
    );
    assert.throws(() => kafkaSecurityFromEnv({ KAFKA_TLS: 'yes' }), /KAFKA_TLS=yes: true or false is expected/);
  });
});
