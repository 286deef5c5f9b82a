import { PassThrough, type Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { StoreError, type BackupStore } from './store';

export interface S3StoreOptions {
  bucket: string;
  /** Prepended to every key (e.g. `backups/`). */
  prefix?: string;
  /** An S3-compatible server's URL (unset: AWS). Path-style addressing is used with it. */
  endpoint?: string;
  region?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Bytes per multipart part (default 8 MiB; S3's minimum is 5 MiB). */
  partSize?: number;
}

/** `s3://bucket/key` */
const locationOf = (bucket: string, key: string) => `s3://${bucket}/${key}`;

/**
 * An S3 bucket (or an S3-compatible server) as a store, through the AWS SDK v3, loaded only when an
 * S3 store is made (agents on the default directory store never load it; it is an optional
 * dependency). Uploads stream as multipart (lib-storage's Upload), so an archive is never held
 * whole in memory; a failed upload is aborted, so no partial object remains.
 *
 * Checksums: SDK releases since early 2025 add CRC32 checksums to every request by default
 * (`requestChecksumCalculation: WHEN_SUPPORTED`, sent as aws-chunked trailers) and validate them on
 * responses; S3-compatible servers that predate that (S3Proxy 2.6 among them) reject or lack them.
 * Both are set to WHEN_REQUIRED: integrity is Vigil's own SHA-256 of the archive, checked by the
 * orchestrator reading the object back.
 */
export class S3Store implements BackupStore {
  private constructor(
    private readonly client: S3Client,
    private readonly sdk: typeof import('@aws-sdk/client-s3'),
    private readonly upload: typeof import('@aws-sdk/lib-storage'),
    private readonly options: S3StoreOptions,
  ) {}

  static async create(options: S3StoreOptions): Promise<S3Store> {
    let sdk: typeof import('@aws-sdk/client-s3');
    let upload: typeof import('@aws-sdk/lib-storage');
    try {
      sdk = await import('@aws-sdk/client-s3');
      upload = await import('@aws-sdk/lib-storage');
    } catch {
      throw new StoreError('an S3 store needs @aws-sdk/client-s3 and @aws-sdk/lib-storage: npm install them');
    }
    const client = new sdk.S3Client({
      region: options.region ?? 'us-east-1',
      endpoint: options.endpoint,
      forcePathStyle: options.endpoint !== undefined,
      credentials: options.credentials,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    return new S3Store(client, sdk, upload, options);
  }

  /** Creates the bucket when it does not exist (local servers, tests). */
  async ensureBucket(): Promise<void> {
    try {
      await this.client.send(new this.sdk.HeadBucketCommand({ Bucket: this.options.bucket }));
    } catch {
      await this.client.send(new this.sdk.CreateBucketCommand({ Bucket: this.options.bucket }));
    }
  }

  private keyOf(location: string): string {
    const head = `s3://${this.options.bucket}/`;
    if (!location.startsWith(head)) throw new StoreError(`${location} is not in the bucket ${this.options.bucket}`);
    return location.slice(head.length);
  }

  async put(key: string, body: Readable): Promise<{ location: string; size: number }> {
    const Key = `${this.options.prefix ?? ''}${key}`;
    let size = 0;
    body.on('data', (c: Buffer) => (size += c.length));
    const up = new this.upload.Upload({
      client: this.client,
      params: { Bucket: this.options.bucket, Key, Body: body },
      partSize: this.options.partSize ?? 8 * 1024 * 1024,
      queueSize: 2,
      leavePartsOnError: false,
    });
    await up.done();
    return { location: locationOf(this.options.bucket, Key), size };
  }

  get(location: string): Readable {
    const out = new PassThrough();
    this.client
      .send(new this.sdk.GetObjectCommand({ Bucket: this.options.bucket, Key: this.keyOf(location) }))
      .then((res) => {
        const body = res.Body as Readable | undefined;
        if (!body) throw new StoreError(`${location}: no body`);
        body.on('error', (e) => out.destroy(e));
        body.pipe(out);
      })
      .catch((e: Error) => out.destroy(e));
    return out;
  }

  async stat(location: string): Promise<{ size: number } | undefined> {
    try {
      const head = await this.client.send(
        new this.sdk.HeadObjectCommand({ Bucket: this.options.bucket, Key: this.keyOf(location) }),
      );
      return { size: Number(head.ContentLength ?? 0) };
    } catch (e) {
      const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404 || (e as Error).name === 'NotFound') return undefined;
      throw e;
    }
  }

  async delete(location: string): Promise<void> {
    await this.client.send(
      new this.sdk.DeleteObjectCommand({ Bucket: this.options.bucket, Key: this.keyOf(location) }),
    );
  }
}
