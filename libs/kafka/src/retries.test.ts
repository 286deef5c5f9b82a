import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRetriableKafkaError, withRetries } from './retries';
import { protocolError } from './testing';

describe('bounded retries of a broker that is still settling', () => {
  it('knows the settling errors, also wrapped in KafkaJS\'s "retries exceeded" error', () => {
    assert.ok(isRetriableKafkaError(protocolError('NOT_LEADER_FOR_PARTITION')));
    assert.ok(isRetriableKafkaError(protocolError('COORDINATOR_LOAD_IN_PROGRESS')));
    assert.ok(
      isRetriableKafkaError({
        name: 'KafkaJSNumberOfRetriesExceeded',
        originalError: protocolError('LEADER_NOT_AVAILABLE'),
      }),
    );
    assert.equal(isRetriableKafkaError(protocolError('TOPIC_AUTHORIZATION_FAILED')), false);
    assert.equal(isRetriableKafkaError(new Error('connection refused')), false);
  });

  it('takes a lost broker connection as settling only when asked: on a cluster another broker takes over', () => {
    const refused = Object.assign(new Error('Connection error: connect ECONNREFUSED'), {
      name: 'KafkaJSConnectionError',
    });
    const lost = { lostConnections: true };
    assert.equal(isRetriableKafkaError(refused), false, 'by default a lost connection is an outage to report');
    assert.ok(isRetriableKafkaError(refused, lost));
    assert.ok(isRetriableKafkaError({ name: 'KafkaJSNumberOfRetriesExceeded', originalError: refused }, lost));
    assert.ok(
      isRetriableKafkaError(Object.assign(new Error('closed'), { name: 'KafkaJSConnectionClosedError' }), lost),
    );
    assert.equal(
      isRetriableKafkaError(Object.assign(new Error('bad'), { name: 'KafkaJSNonRetriableError' }), lost),
      false,
    );
  });

  it('retries a settling error until it succeeds, refreshing before each retry', async () => {
    let calls = 0;
    let refreshes = 0;
    const value = await withRetries(
      'offsets',
      async () => {
        if (++calls < 3) throw protocolError('NOT_LEADER_FOR_PARTITION');
        return 42;
      },
      { beforeRetry: async () => void refreshes++ },
    );
    assert.equal(value, 42);
    assert.equal(calls, 3);
    assert.equal(refreshes, 2);
  });

  it('throws any other error at once', async () => {
    let calls = 0;
    await assert.rejects(
      withRetries('offsets', async () => {
        calls++;
        throw new Error('connection refused');
      }),
      /connection refused/,
    );
    assert.equal(calls, 1);
  });

  it('gives up past its bound, naming the operation', async () => {
    const started = Date.now();
    await assert.rejects(
      withRetries('high watermarks of t', async () => Promise.reject(protocolError('LEADER_NOT_AVAILABLE')), {
        timeoutMs: 500,
      }),
      /high watermarks of t: still failing after retries/,
    );
    assert.ok(Date.now() - started < 2000, 'bounded by the timeout');
  });
});
