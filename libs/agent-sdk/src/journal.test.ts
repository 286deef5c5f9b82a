// The journal on a real file system: what it promises after a crash, and what it leaves on disk.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { DurableFile } from './durable-file';
import { Journal, type JournalRecord } from './journal';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function tempDir(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'vigil-journal-'));
  dirs.push(d);
  return path.join(d, 'journal');
}

function reopen<T>(
  dir: string,
  segmentBytes = 1024 * 1024,
): { journal: Journal<T>; replayed: Array<JournalRecord<T>> } {
  const replayed: Array<JournalRecord<T>> = [];
  const journal = Journal.open<T>({ dir, segmentBytes }, (r) => replayed.push(r));
  return { journal, replayed };
}

/** A tmpfs of `bytes` (root only; a reason to skip otherwise), unmounted after the file's tests. */
function smallDisk(bytes: number): { dir: string } | string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-small-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    return `cannot mount a small tmpfs here (needs root): ${(e as Error).message.split('\n')[0]}`;
  }
  after(() => {
    execFileSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir };
}

async function append<T>(journal: Journal<T>, items: T[]): Promise<Array<JournalRecord<T>>> {
  const { records, buffer } = journal.frame(items);
  await journal.appendDurably(records, buffer);
  return records;
}

describe('Journal', () => {
  it('leaves nothing on disk until something is appended', () => {
    const dir = tempDir();
    const { journal } = reopen(dir);
    assert.equal(journal.bytes, 0);
    assert.equal(existsSync(dir), false);
  });

  it('replays every appended record, in order, with increasing sequence numbers, after a reopen', async () => {
    const dir = tempDir();
    const { journal } = reopen<{ n: number }>(dir);
    await append(journal, [{ n: 1 }, { n: 2 }]);
    await append(journal, [{ n: 3 }]);
    await journal.close();
    const { replayed, journal: again } = reopen<{ n: number }>(dir);
    assert.deepEqual(
      replayed.map((r) => [r.seq, r.data.n]),
      [
        [1, 1],
        [2, 2],
        [3, 3],
      ],
    );
    const [next] = await append(again, [{ n: 4 }]);
    assert.equal(next!.seq, 4, 'sequence numbers continue after a reopen');
    await again.close();
  });

  it('keeps the acked mark across a reopen and deletes whole segments once everything in them is acked', async () => {
    const dir = tempDir();
    const { journal } = reopen<{ pad: string }>(dir, 200);
    for (let i = 0; i < 6; i++) await append(journal, [{ pad: 'x'.repeat(120) }]);
    const segmentsBefore = readdirSync(dir).filter((f) => f.endsWith('.log')).length;
    assert.ok(segmentsBefore >= 3, `rolled into several segments (${segmentsBefore})`);
    let savedBeforeDelete = false;
    await journal.ack(5, async () => {
      savedBeforeDelete = readdirSync(dir).filter((f) => f.endsWith('.log')).length === segmentsBefore;
    });
    assert.ok(savedBeforeDelete, 'beforeDelete runs while the segments still exist');
    assert.equal(readFileSync(path.join(dir, 'acked'), 'utf8'), '5');
    const left = readdirSync(dir).filter((f) => f.endsWith('.log'));
    assert.ok(left.length < segmentsBefore, 'acked segments are deleted');
    assert.ok(left.length >= 1, 'the segment being written is kept');
    await journal.close();
    const { journal: again, replayed } = reopen<{ pad: string }>(dir, 200);
    assert.equal(again.acked, 5);
    assert.ok(
      replayed.some((r) => r.seq === 6),
      'the unacked record is still there',
    );
    await again.close();
  });

  it('drops a torn tail (a crash mid-write) and keeps every whole record before it', async () => {
    const dir = tempDir();
    const { journal } = reopen<{ n: number }>(dir);
    await append(journal, [{ n: 1 }, { n: 2 }]);
    await journal.close();
    const segment = readdirSync(dir).find((f) => f.endsWith('.log'))!;
    appendFileSync(path.join(dir, segment), Buffer.from([0, 0, 0, 50, 1, 2, 3, 4, 5]));
    const { replayed, journal: again } = reopen<{ n: number }>(dir);
    assert.deepEqual(
      replayed.map((r) => r.data.n),
      [1, 2],
    );
    const [next] = await append(again, [{ n: 3 }]);
    await again.close();
    const { replayed: third } = reopen<{ n: number }>(dir);
    assert.deepEqual(
      third.map((r) => r.data.n),
      [1, 2, 3],
      'what is appended after the truncation is readable',
    );
    assert.equal(next!.seq, 3);
  });

  it('on a disk that fills up, refuses the append with ENOSPC, leaves nothing torn, and goes on once space is free', async (t) => {
    const disk = smallDisk(64 * 1024);
    if (typeof disk === 'string') return t.skip(disk);
    const dir = path.join(disk.dir, 'journal');
    const { journal } = reopen<string>(dir);
    await append(journal, ['a', 'b']);
    // Everything else on the disk taken: the next write gets part of its bytes in, then ENOSPC.
    const filler = path.join(disk.dir, 'filler');
    try {
      writeFileSync(filler, Buffer.alloc(128 * 1024));
    } catch (e) {
      assert.equal((e as NodeJS.ErrnoException).code, 'ENOSPC');
    }
    await assert.rejects(append(journal, ['x'.repeat(16 * 1024)]), /ENOSPC/);
    rmSync(filler);
    await append(journal, ['c']);
    await journal.close();

    // What was refused is not there, and nothing accepted after it was cut off with it.
    const { replayed } = reopen<string>(dir);
    assert.deepEqual(
      replayed.map((r) => r.data),
      ['a', 'b', 'c'],
    );
  });

  it('stops at a record whose checksum does not match (corruption), not after it', async () => {
    const dir = tempDir();
    const { journal } = reopen<{ n: number }>(dir);
    await append(journal, [{ n: 1 }, { n: 2 }, { n: 3 }]);
    await journal.close();
    const file = path.join(
      dir,
      readdirSync(dir).find((f) => f.endsWith('.log'))!,
    );
    const bytes = readFileSync(file);
    const firstLength = bytes.readUInt32BE(0);
    bytes[8 + firstLength + 8 + 2] ^= 0xff; // a byte inside the second record's body
    const { writeFileSync } = await import('node:fs');
    writeFileSync(file, bytes);
    const { replayed } = reopen<{ n: number }>(dir);
    assert.deepEqual(
      replayed.map((r) => r.data.n),
      [1],
    );
  });

  it('does not block the event loop on acks: a timer keeps firing while 200 acks are written', async () => {
    const dir = tempDir();
    const { journal } = reopen<{ n: number }>(dir);
    const records = await append(
      journal,
      Array.from({ length: 200 }, (_, n) => ({ n })),
    );
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    await Promise.all(records.map((r) => journal.ack(r.seq)));
    clearInterval(timer);
    assert.equal(readFileSync(path.join(dir, 'acked'), 'utf8'), '200', 'the newest mark wins');
    assert.ok(ticks > 0, 'the loop ran between the writes');
    await journal.close();
  });
});

describe('DurableFile', () => {
  it('coalesces writes asked for while one is in flight and always ends with the newest content', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vigil-durable-'));
    dirs.push(dir);
    const file = new DurableFile(path.join(dir, 'mark'));
    await Promise.all(Array.from({ length: 50 }, (_, i) => file.write(String(i))));
    assert.equal(readFileSync(path.join(dir, 'mark'), 'utf8'), '49');
    assert.equal(existsSync(path.join(dir, 'mark.tmp')), false, 'no temp file left behind');
  });
});
