import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { logLevel } from 'kafkajs';
import { clientLogLevel } from './client-log-level';

describe('KafkaJS log lines at the level they deserve', () => {
  it('a response with a broker error KafkaJS retries (a coordinator still loading) is debug', () => {
    const log = { error: "The coordinator is loading and hence can't process requests for this group" };
    assert.equal(clientLogLevel(logLevel.ERROR, log), 'debug');
    assert.equal(
      clientLogLevel(logLevel.ERROR, {
        error: 'There is no leader for this topic-partition as we are in the middle of a leadership election',
      }),
      'debug',
    );
  });

  it('a reconnect attempt KafkaJS counts is a warning, not an error', () => {
    assert.equal(clientLogLevel(logLevel.ERROR, { retryCount: 2, retryTime: 600 }), 'warn');
  });

  it('a broker error nobody retries stays an error', () => {
    assert.equal(clientLogLevel(logLevel.ERROR, { error: 'Not authorized to access group' }), 'error');
    assert.equal(clientLogLevel(logLevel.ERROR, {}), 'error');
  });

  it('other levels pass through', () => {
    assert.equal(clientLogLevel(logLevel.WARN, { error: 'The request timed out' }), 'warn');
    assert.equal(clientLogLevel(logLevel.INFO, {}), 'info');
    assert.equal(clientLogLevel(logLevel.DEBUG, {}), 'debug');
  });
});
