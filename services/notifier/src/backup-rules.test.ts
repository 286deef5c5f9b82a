import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sampleBackupVerified, type BackupVerified } from '@vigil/events';
import { decideBackup } from './backup-rules';
import { newIncident } from './incident';

const verdict = (v: BackupVerified['verdict'], at: number): BackupVerified => ({
  ...sampleBackupVerified(),
  verdict: v,
  reason: v === 'verified' ? null : 'sha256 differs',
  verifiedAt: at,
});

describe('BackupFailed', () => {
  it('fires on a failed verdict, once, and resolves on the next verified one', () => {
    const fired = decideBackup(newIncident('backup/agent-1/nightly'), verdict('failed', 10), 'warning', 11);
    assert.equal(fired.alerts[0]?.alertName, 'BackupFailed');
    assert.match(fired.alerts[0]!.summary, /failed: sha256 differs/);
    const again = decideBackup(fired.incident, verdict('timed_out', 12), 'warning', 13);
    assert.deepEqual(again.alerts, []);
    const resolved = decideBackup(again.incident, verdict('verified', 14), 'warning', 15);
    assert.equal(resolved.alerts[0]?.status, 'resolved');
    assert.equal(resolved.alerts[0]?.fingerprint, fired.alerts[0]?.fingerprint);
  });
  it('ignores a verdict older than the last applied (a replay)', () => {
    const fired = decideBackup(newIncident('k'), verdict('failed', 10), 'warning', 11);
    assert.equal(decideBackup(fired.incident, verdict('verified', 9), 'warning', 12).noop, true);
  });
});
