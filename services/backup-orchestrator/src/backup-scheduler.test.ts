import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AgentRegistration } from '@vigil/events';
import type { Logger } from '@vigil/platform';
import type { BackupJobs } from './backup-jobs';
import { BackupScheduler } from './backup-scheduler';
import type { OrchestratorConfig } from './config';
import { policySchema } from './policy';

const policies = policySchema.parse({
  policies: [{ id: 'p', selector: ['role=db'], paths: ['/data'], full: { cron: '*/15 * * * * *' } }],
});
const agent = (agentId: string, role: string): AgentRegistration =>
  ({ agentId, host: 'h', labels: { role }, registeredAt: 0 }) as unknown as AgentRegistration;
const agents = [agent('a1', 'db'), agent('a2', 'db'), agent('a3', 'web'), agent('a4', 'db')];
const config = { MISFIRE_GRACE_MS: 60_000, TICK_INTERVAL_MS: 1000, SCRUB_INTERVAL_MS: 0 } as OrchestratorConfig;
const logger = { info() {}, warn() {}, error() {} } as unknown as Logger;

/** BackupJobs as the scheduler sees it: records what is created and when its commands go out. */
function recordingJobs(send: () => Promise<void>) {
  const events: string[] = [];
  const jobs = {
    policies,
    store: { agents: async () => agents },
    create: async (_p: unknown, agentId: string, kind: string, trigger: string, key: string) => {
      events.push(`create ${agentId} ${kind} ${trigger} ${key}`);
      return {
        jobId: `p/${agentId}/${kind}@${key}`,
        publish: async () => {
          await send();
          events.push(`sent ${agentId}`);
        },
      };
    },
  };
  return { events, scheduler: new BackupScheduler(jobs as unknown as BackupJobs, config, logger) };
}

describe('the backup scheduler', () => {
  const slot = Date.UTC(2026, 10, 28, 5, 0, 15);

  it("creates every selected agent's job of the newest slot before it sends any command", async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const { events, scheduler } = recordingJobs(() => held);
    const firing = scheduler.fire(slot + 4000);
    // The sends are held, as by a broker failover: the slot's jobs are all in place regardless.
    await new Promise((r) => setTimeout(r, 20));
    const at = new Date(slot).toISOString();
    assert.deepEqual(events, [
      `create a1 full scheduled ${at}`,
      `create a2 full scheduled ${at}`,
      `create a4 full scheduled ${at}`,
    ]);
    release();
    await firing;
    assert.deepEqual(events.slice(3).sort(), ['sent a1', 'sent a2', 'sent a4']);
  });

  it('does not create the jobs of a slot again on the next tick, and fires the next slot', async () => {
    const { events, scheduler } = recordingJobs(async () => undefined);
    await scheduler.fire(slot + 1000);
    await scheduler.fire(slot + 2000);
    assert.equal(events.filter((e) => e.startsWith('create')).length, 3);
    await scheduler.fire(slot + 15_000);
    assert.deepEqual(
      events.filter((e) => e.startsWith('create')).slice(3),
      ['a1', 'a2', 'a4'].map((a) => `create ${a} full scheduled ${new Date(slot + 15_000).toISOString()}`),
    );
  });
});
