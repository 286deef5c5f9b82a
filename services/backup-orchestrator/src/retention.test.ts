import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chainHead, toPrune, type KeptBackup } from './retention';

const DAY = 86_400_000;
/** Backups in order: F = full, I = incremental on the previous one. */
function history(kinds: string, start = 0): KeptBackup[] {
  const out: KeptBackup[] = [];
  [...kinds].forEach((k, i) => {
    out.push({
      jobId: `j${i}`,
      policyId: 'p',
      kind: k === 'F' ? 'full' : 'incremental',
      baseJobId: k === 'F' ? null : `j${i - 1}`,
      location: `/s/j${i}`,
      manifestLocation: `/s/j${i}.m`,
      sizeBytes: 1,
      sha256: 'x',
      verifiedAt: start + i * DAY,
    });
  });
  return out;
}
const ids = (bs: KeptBackup[]) => bs.map((b) => b.jobId).sort();

describe('retention', () => {
  it('keeps the newest N, and every backup their chains need', () => {
    // F I I I F I I I I I: keep last 3 = j7 j8 j9, whose chain goes back to the full j4.
    const kept = history('FIIIFIIIII');
    assert.deepEqual(ids(toPrune(kept, { keepLast: 3 }, 10 * DAY)), ids(kept.slice(0, 4)));
  });

  it('never prunes the newest full, even past maxAge', () => {
    const kept = history('FII');
    assert.deepEqual(ids(toPrune(kept, { keepLast: 10, maxAgeDays: 1 }, 100 * DAY)), ['j1', 'j2']);
  });

  it('prunes by age what the newest N would keep', () => {
    const kept = history('FFFF');
    assert.deepEqual(ids(toPrune(kept, { keepLast: 4, maxAgeDays: 1.5 }, 3 * DAY)), ['j0', 'j1']);
  });

  it('builds incrementals on the newest complete chain; none without a full', () => {
    assert.equal(chainHead(history('FII'))?.jobId, 'j2');
    assert.equal(chainHead(history('FII').filter((b) => b.jobId !== 'j0')), undefined, 'the full is gone');
    assert.equal(chainHead(history('FIF').filter((b) => b.jobId !== 'j2'))?.jobId, 'j1');
  });
});
