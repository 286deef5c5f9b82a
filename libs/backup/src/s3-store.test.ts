// The same archives as archive.test.ts, in a real S3-compatible server (S3Proxy, infra/s3.sh) through
// the AWS SDK v3: a full, then an incremental after a change, an addition and a deletion.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { readManifest, writeArchive } from './archive';
import { digestOf } from './digest';
import { S3Store } from './s3-store';

const endpoint = process.env.S3_ENDPOINT;
const work = mkdtempSync(path.join(tmpdir(), 'vigil-s3-'));
const data = path.join(work, 'data');

describe('the S3 store, against a real S3-compatible server', () => {
  let store: S3Store;

  before(async () => {
    assert.ok(endpoint, 'S3_ENDPOINT is not set: run infra/up.sh (it starts S3Proxy)');
    store = await S3Store.create({
      bucket: `vigil-test-${randomUUID().slice(0, 8)}`,
      prefix: 'backups/',
      endpoint,
      credentials: {
        accessKeyId: process.env.S3_ACCESS_KEY_ID ?? '',
        secretAccessKey: process.env.S3_SECRET_ACCESS_KEY ?? '',
      },
      partSize: 5 * 1024 * 1024,
    });
    await store.ensureBucket();
    mkdirSync(path.join(data, 'conf'), { recursive: true });
    writeFileSync(path.join(data, 'conf', 'app.yaml'), 'port: 8080\n');
    // Larger than one part: the upload is multipart.
    writeFileSync(
      path.join(data, 'big.bin'),
      Buffer.from(Array.from({ length: 12 * 1024 * 1024 }, (_, i) => (i * 7919) % 251)),
    );
    writeFileSync(path.join(data, 'old.log'), 'old\n');
    for (const f of ['conf/app.yaml', 'big.bin', 'old.log']) {
      const t = Date.now() / 1000 - 60;
      utimesSync(path.join(data, f), t, t);
    }
  });

  after(() => rmSync(work, { recursive: true, force: true }));

  it('stores a full and an incremental; what is read back has the reported size and SHA-256; manifests list the tree', async () => {
    const req = { agentId: 'a1', paths: [data], allow: [work], store };
    const full = await writeArchive({ ...req, jobId: 'j1', kind: 'full', key: 'a1/j1' });
    assert.match(full.location, /^s3:\/\/vigil-test-[0-9a-f]+\/backups\/a1\/j1\.tar\.gz$/);
    assert.deepEqual(await digestOf(store.get(full.location)), { sha256: full.sha256, size: full.sizeBytes });
    assert.deepEqual(await store.stat(full.location), { size: full.sizeBytes });

    writeFileSync(path.join(data, 'conf', 'app.yaml'), 'port: 9090\n');
    writeFileSync(path.join(data, 'new.txt'), 'new\n');
    rmSync(path.join(data, 'old.log'));
    const base = await readManifest(store, full.manifestLocation);
    const inc = await writeArchive({ ...req, jobId: 'j2', kind: 'incremental', base, key: 'a1/j2' });
    assert.deepEqual(await digestOf(store.get(inc.location)), { sha256: inc.sha256, size: inc.sizeBytes });
    const m = await readManifest(store, inc.manifestLocation);
    assert.deepEqual(
      m.entries.map((e) => path.relative(data, e.path) || '.'),
      ['.', 'big.bin', 'conf', 'conf/app.yaml', 'new.txt'],
    );
    assert.deepEqual(m.archived.map((p) => path.relative(data, p) || '.').sort(), ['.', 'conf/app.yaml', 'new.txt']);
  });

  it('says an object is missing, deletes, and names a location of another bucket', async () => {
    const { location } = await store.put('x/y', Readable.from([Buffer.from('hello')]));
    assert.deepEqual(await store.stat(location), { size: 5 });
    await store.delete(location);
    assert.equal(await store.stat(location), undefined);
    await assert.rejects(store.stat('s3://elsewhere/x'), /is not in the bucket/);
  });
});
