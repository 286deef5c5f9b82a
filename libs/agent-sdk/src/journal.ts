import { existsSync, readdirSync, readFileSync, truncateSync } from 'node:fs';
import { mkdir, open, stat, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { DurableFile, syncDirectory } from './durable-file';

/** One journal entry: whatever the caller stores, with a sequence number assigned on append. */
export interface JournalRecord<T> {
  seq: number;
  data: T;
}

// Frame: u32 length of the JSON body, u32 CRC-32 of it, the body. A frame cut short by a crash
// (length or CRC wrong) ends the valid log; everything after it is discarded on open.
const FRAME_HEADER = 8;

export interface JournalOptions {
  dir: string;
  /** Roll to a new segment file past this size. */
  segmentBytes: number;
}

interface Segment {
  file: string;
  firstSeq: number;
  lastSeq: number;
  bytes: number;
}

/**
 * An append-only, fsync'd log of records in numbered segment files, with a persisted "acked" mark.
 * Appends are batched by the caller (group commit: one write + one fdatasync per batch). Segments
 * whose records are all acked are deleted, so the disk holds only what was not yet delivered.
 * Opening reads synchronously (once, at start); every write after that is off the event loop, and
 * each new or deleted file is made durable with an fsync of the directory.
 */
export class Journal<T> {
  private segments: Segment[] = [];
  private handle?: FileHandle;
  private nextSeq = 1;
  private ackedSeq = 0;
  private readonly ackFile: DurableFile;
  private deleting: Promise<void> = Promise.resolve();

  private constructor(private readonly options: JournalOptions) {
    this.ackFile = new DurableFile(path.join(options.dir, 'acked'));
  }

  /** Opens the journal, truncating a torn tail; `replay` receives every record (acked or not). */
  static open<T>(options: JournalOptions, replay: (record: JournalRecord<T>) => void): Journal<T> {
    const j = new Journal<T>(options);
    // Created on the first append: an agent that only sends heartbeats leaves nothing on disk.
    if (!existsSync(options.dir)) return j;
    const ackFile = path.join(options.dir, 'acked');
    if (existsSync(ackFile)) j.ackedSeq = Number(readFileSync(ackFile, 'utf8').trim()) || 0;
    const files = readdirSync(options.dir)
      .filter((f) => /^\d{12}\.log$/.test(f))
      .sort();
    for (const f of files) {
      const file = path.join(options.dir, f);
      const buf = readFileSync(file);
      let pos = 0;
      const seg: Segment = { file, firstSeq: Number(f.slice(0, 12)), lastSeq: Number(f.slice(0, 12)) - 1, bytes: 0 };
      while (pos + FRAME_HEADER <= buf.length) {
        const len = buf.readUInt32BE(pos);
        const sum = buf.readUInt32BE(pos + 4);
        if (pos + FRAME_HEADER + len > buf.length) break;
        const body = buf.subarray(pos + FRAME_HEADER, pos + FRAME_HEADER + len);
        if (crc32(body) !== sum) break;
        const record = JSON.parse(body.toString('utf8')) as JournalRecord<T>;
        replay(record);
        seg.lastSeq = record.seq;
        j.nextSeq = Math.max(j.nextSeq, record.seq + 1);
        pos += FRAME_HEADER + len;
      }
      if (pos < buf.length) truncateSync(file, pos); // torn tail from a crash mid-write
      seg.bytes = pos;
      j.segments.push(seg);
    }
    j.nextSeq = Math.max(j.nextSeq, j.ackedSeq + 1);
    return j;
  }

  get acked(): number {
    return this.ackedSeq;
  }

  /** Bytes of segments still holding undelivered records. */
  get bytes(): number {
    return this.segments.reduce((n, s) => n + s.bytes, 0);
  }

  /** Frames the records, assigns their sequence numbers; `appendDurably` writes them. */
  frame(items: T[]): { records: Array<JournalRecord<T>>; buffer: Buffer } {
    const records = items.map((data) => ({ seq: this.nextSeq++, data }));
    const frames = records.map((r) => {
      const body = Buffer.from(JSON.stringify(r), 'utf8');
      const header = Buffer.alloc(FRAME_HEADER);
      header.writeUInt32BE(body.length, 0);
      header.writeUInt32BE(crc32(body), 4);
      return Buffer.concat([header, body]);
    });
    return { records, buffer: Buffer.concat(frames) };
  }

  /** Writes framed records and fdatasyncs: when this resolves they survive a crash of the process. */
  async appendDurably(records: Array<JournalRecord<T>>, buffer: Buffer): Promise<void> {
    if (records.length === 0) return;
    let seg = this.segments.at(-1);
    if (!seg || !this.handle || seg.bytes >= this.options.segmentBytes) {
      await this.handle?.close();
      // No sync fs call here: this runs on the host's event loop, in the path of a publish.
      if ((await mkdir(this.options.dir, { recursive: true })) !== undefined)
        await syncDirectory(path.dirname(this.options.dir));
      const file = path.join(this.options.dir, `${String(records[0]!.seq).padStart(12, '0')}.log`);
      seg = {
        file,
        firstSeq: records[0]!.seq,
        lastSeq: records[0]!.seq - 1,
        bytes: await stat(file).then(
          (s) => s.size,
          () => 0,
        ),
      };
      // Known as a segment only once it exists: a disk too full to create it leaves no entry to delete.
      this.handle = await open(file, 'a');
      if (this.segments.at(-1)?.file !== file) this.segments.push(seg);
      // The new file's directory entry must be durable too, or a crash could lose the whole segment.
      await syncDirectory(this.options.dir);
    }
    try {
      // A write may take only part of the buffer (a disk filling up answers with fewer bytes first,
      // ENOSPC only on the next call): it is durable only once every byte is in and synced.
      for (let done = 0; done < buffer.length;) {
        const { bytesWritten } = await this.handle.write(buffer, done, buffer.length - done);
        done += bytesWritten;
      }
      await this.handle.datasync();
    } catch (e) {
      await this.dropTornTail(seg);
      throw e;
    }
    seg.bytes += buffer.length;
    seg.lastSeq = records.at(-1)!.seq;
  }

  /**
   * After a failed append the segment may end in part of a frame. Left there, a later append would
   * follow it, and the next open, which stops at the first torn frame, would cut off that append
   * too. So the tail is cut back to the last whole frame; failing that, the segment is closed and
   * the next append starts a new one, so nothing accepted ever follows a torn frame in a file.
   */
  private async dropTornTail(seg: Segment): Promise<void> {
    try {
      await this.handle?.truncate(seg.bytes);
    } catch {
      await this.handle?.close().catch(() => undefined);
      this.handle = undefined;
    }
  }

  /**
   * Marks everything up to seq delivered: the mark is written durably, then segments that hold
   * nothing newer are deleted, after `beforeDelete` (which must save what is derived from them).
   * Resolves once that is done. A crash before the mark is on disk only means a resend, which
   * consumers dedupe by event id.
   */
  async ack(seq: number, beforeDelete?: () => Promise<void>): Promise<void> {
    if (seq <= this.ackedSeq) return;
    this.ackedSeq = seq;
    await this.ackFile.write(String(seq));
    const current = this.segments.at(-1);
    const done = this.segments.filter((s) => s !== current && s.lastSeq <= seq);
    if (done.length === 0) return;
    this.segments = this.segments.filter((s) => !done.includes(s));
    this.deleting = this.deleting
      .catch(() => undefined)
      .then(async () => {
        await beforeDelete?.();
        for (const s of done) await unlink(s.file);
        await syncDirectory(this.options.dir);
      });
    await this.deleting;
  }

  /** Waits for pending acknowledgements and deletions, then closes the open segment. */
  async close(): Promise<void> {
    await this.ackFile.settled();
    await this.deleting.catch(() => undefined);
    await this.handle?.close();
    this.handle = undefined;
  }
}
