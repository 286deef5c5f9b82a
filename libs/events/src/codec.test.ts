// The codec against the real registry: Vigil obeys the levels the subjects' owners set.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { SchemaCodec, SchemaIncompatibleError, type Compatibility } from './codec';
import { sampleHeartbeat } from './samples';
import { Topics } from './topics';

// The libs below the test kit read the infra env themselves (see libs/test-kit).
const registryUrl = process.env.SCHEMA_REGISTRY_URL;
if (!registryUrl) throw new Error('SCHEMA_REGISTRY_URL is not set: run `bash infra/up.sh` and source .vigil/infra.env');

const v1 = { type: 'record', name: 'Probe', namespace: 'dev.vigil.test', fields: [{ name: 'a', type: 'string' }] };
/** Compatible under every level: a new field with a default. */
const v2 = { ...v1, fields: [...v1.fields, { name: 'b', type: 'int', default: 0 }] };
/** Breaks backward compatibility: a new field without a default (new readers cannot read old records). */
const breaking = { ...v1, fields: [...v1.fields, { name: 'c', type: 'int' }] };

async function rest(method: string, urlPath: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${registryUrl}${urlPath}`, {
    method,
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

/** A subject someone else created first: their schema, their level. */
async function foreignSubject(level: Compatibility, schema: object = v1): Promise<string> {
  const subject = `codec-test-${randomUUID()}-value`;
  assert.equal((await rest('POST', `/subjects/${subject}/versions`, { schema: JSON.stringify(schema) })).status, 200);
  assert.equal((await rest('PUT', `/config/${subject}`, { compatibility: level })).status, 200);
  return subject;
}

const versionCount = async (subject: string) =>
  ((await rest('GET', `/subjects/${subject}/versions`)).json as number[]).length;

describe('SchemaCodec registration obeys the registry', () => {
  const codec = new SchemaCodec({ registryUrl: registryUrl! });

  for (const level of ['NONE', 'FULL', 'BACKWARD_TRANSITIVE'] as const) {
    it(`registers a compatible schema on a subject pre-registered at ${level} and leaves the level alone`, async () => {
      const subject = await foreignSubject(level);
      const { id, created } = await codec.registerSubject(subject, v2);
      assert.ok(id > 0);
      assert.equal(created, false);
      assert.equal(await codec.compatibilityOf(subject), level);
      assert.equal(await versionCount(subject), 2);
    });
  }

  it('accepts even a breaking schema where the owners chose NONE', async () => {
    const subject = await foreignSubject('NONE');
    const { id } = await codec.registerSubject(subject, breaking);
    assert.ok(id > 0);
  });

  for (const level of ['FULL', 'BACKWARD_TRANSITIVE'] as const) {
    it(`refuses an incompatible schema under ${level}, with the registry's reason`, async () => {
      const subject = await foreignSubject(level);
      await assert.rejects(codec.registerSubject(subject, breaking), (e: unknown) => {
        assert.ok(e instanceof SchemaIncompatibleError, `got ${String(e)}`);
        assert.equal(e.subject, subject);
        assert.ok(e.reason.length > 0, 'the reason is the registry answer');
        return true;
      });
      assert.equal(await versionCount(subject), 1, 'nothing was registered');
      assert.equal(await codec.compatibilityOf(subject), level);
    });
  }

  it('looks an existing registration up instead of registering it again', async () => {
    const subject = await foreignSubject('FULL');
    const first = await codec.registerSubject(subject, v1);
    const again = await codec.registerSubject(subject, v1);
    assert.equal(first.id, again.id);
    assert.equal(await versionCount(subject), 1);
  });

  it('gives a subject it creates FULL_TRANSITIVE by default, or the configured level', async () => {
    const fresh = `codec-test-${randomUUID()}-value`;
    assert.equal((await codec.registerSubject(fresh, v1)).created, true);
    assert.equal(await codec.compatibilityOf(fresh), 'FULL_TRANSITIVE');
    const backward = new SchemaCodec({ registryUrl: registryUrl!, compatibility: 'BACKWARD' });
    const other = `codec-test-${randomUUID()}-value`;
    await backward.registerSubject(other, v1);
    assert.equal(await codec.compatibilityOf(other), 'BACKWARD');
  });

  it('encodes for a topic whose subject another team registered first at NONE (the reported failure)', async () => {
    const def = { ...Topics.heartbeats, name: `codec-test-${randomUUID()}` };
    const subject = await foreignSubject('NONE', def.schema as object);
    const bytes = await new SchemaCodec({ registryUrl: registryUrl! }).encode(def, sampleHeartbeat());
    const decoded = await codec.decode(def, bytes);
    assert.ok(decoded.ok);
    assert.equal(await codec.compatibilityOf(subject), 'NONE');
  });

  it('registers every catalogue schema at once, inputs included (what a service does at start)', async () => {
    const defs = Object.values(Topics).map((t) => ({ name: `codec-test-${randomUUID()}`, schema: t.schema }));
    await codec.registerAll(defs);
    for (const d of defs) assert.equal(await versionCount(SchemaCodec.subjectOf(d.name)), 1);
  });
});
