import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';

/** A pass-through that hashes and counts what flows through it. */
export class DigestTap extends Transform {
  private readonly hash = createHash('sha256');
  bytes = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: (e?: Error | null, data?: Buffer) => void): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }

  /** The hex digest; call once the stream ended. */
  digest(): string {
    return this.hash.digest('hex');
  }
}

/** SHA-256 and size of a stream, read to its end (never held whole in memory). */
export async function digestOf(stream: Readable): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), size };
}
