import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { AvroSchemaParser } from '@asyncapi/avro-schema-parser';
import { DiagnosticSeverity, Parser } from '@asyncapi/parser';
import { parse } from 'yaml';
import { asyncApiDocument } from './asyncapi';
import { ASYNCAPI_FILE, contractVersion } from './asyncapi-write';
import { RecordHeaderNames } from './headers';
import { allTopics, Topics } from './topics';

const text = readFileSync(ASYNCAPI_FILE, 'utf8');
const version = contractVersion();

describe('the AsyncAPI document (libs/events/asyncapi.yaml)', () => {
  it('is what the catalogue says today (else: npm run -s asyncapi)', () => {
    assert.deepEqual(
      parse(text),
      asyncApiDocument(version),
      'libs/events/asyncapi.yaml and the catalogue disagree: run `npm run -s asyncapi` and commit the result',
    );
  });

  it("is a valid AsyncAPI 3 document to AsyncAPI's own parser, Avro payloads included", async () => {
    const parser = new Parser();
    parser.registerSchemaParser(AvroSchemaParser());
    const { document, diagnostics } = await parser.parse(text);
    const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
    assert.deepEqual(
      errors.map((d) => `${d.path.join('.')}: ${d.message}`),
      [],
      'the parser found errors',
    );
    assert.ok(document, 'the parser returned a document');
    assert.equal(document.version(), '3.0.0');
    assert.deepEqual(
      document
        .channels()
        .all()
        .map((c) => c.address())
        .sort(),
      allTopics()
        .map((t) => t.name)
        .sort(),
      'one channel per topic and dead-letter topic',
    );
  });

  it('states each topic as the catalogue does: partitions, config, key, subject, headers, writers and readers', () => {
    const doc = asyncApiDocument(version) as {
      channels: Record<string, { address: string; bindings: { kafka: Record<string, unknown> }; description: string }>;
      components: { messages: Record<string, { headers: { properties: Record<string, unknown> } }> };
      operations: Record<string, { action: string; channel: { $ref: string } }>;
    };
    const changelog = Object.values(doc.channels).find((c) => c.address === Topics.stateChangelog.name)!;
    assert.equal(changelog.bindings.kafka.partitions, Topics.stateChangelog.partitions);
    assert.deepEqual((changelog.bindings.kafka.topicConfiguration as Record<string, unknown>)['cleanup.policy'], [
      'compact',
    ]);
    assert.match(changelog.description, /tombstone/);
    assert.match(changelog.description, /`vigil\.state\.changelog-value`/);
    const heartbeats = Object.values(doc.channels).find((c) => c.address === Topics.heartbeats.name)!;
    assert.equal(
      (heartbeats.bindings.kafka.topicConfiguration as Record<string, unknown>)['message.timestamp.type'],
      'LogAppendTime',
    );
    // The changelog's headers are on its own message; the state changes' message has none of them.
    const onChangelog = doc.components.messages.VigilStateChangelog!;
    for (const h of Object.values(RecordHeaderNames)) {
      assert.ok(h in onChangelog.headers.properties, h);
      assert.ok(!(h in doc.components.messages.StateChangeEvent!.headers.properties), h);
    }
    const sends = Object.values(doc.operations).filter((o) => o.action === 'send');
    const receives = Object.values(doc.operations).filter((o) => o.action === 'receive');
    const count = (parties: 'producers' | 'consumers') => allTopics().reduce((n, t) => n + t[parties].length, 0);
    assert.equal(sends.length, count('producers'));
    assert.equal(receives.length, count('consumers'));
  });
});
