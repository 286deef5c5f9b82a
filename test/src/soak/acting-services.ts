// The notifier and the backup-orchestrator in the soak: their policies, what the fleet simulator must
// answer for them, what the soak watches of their output, and the audit of it at the end.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Topics, type AlertEvent, type BackupVerified, type HealCommand, type SchemaCodec } from '@vigil/events';
import type { KafkaClient } from '@vigil/kafka';
import { waitUntil, watchTopic, type TopicWatch } from '@vigil/test-kit';
import { auditAlerts, auditBackups, slotsBetween, type AlertAudit, type BackupAudit } from './action-audits';

/** Heal attempts per incident: every one fails (the fleet's supervisor says so), then the alert. */
const HEAL_ATTEMPTS = 2;
/** A full backup of each selected agent every this often (cron's seconds field). */
const BACKUP_EVERY_S = 15;
const POLICY_ID = 'soak';

export interface ActionsAudit {
  alerts: AlertAudit;
  backups: BackupAudit;
}

export class ActingServices {
  /** Each role's environment beyond the infra's. */
  readonly env: { notifier: Record<string, string>; 'backup-orchestrator': Record<string, string> };
  /** What fleet-sim needs to answer heals (always failing) and backups (into the orchestrator's store). */
  readonly fleetArgs: string[];
  /** Each role's consumer group and the topics it consumes (its controllers' event patterns). */
  readonly groups: Record<string, string[]>;

  private constructor(
    fleetPrefix: string,
    /** The agents the backup policy selects: the first simulated host's (fleet-sim puts 10 on each). */
    readonly backupAgents: readonly string[],
    private readonly alerts: TopicWatch<AlertEvent>,
    private readonly heals: TopicWatch<HealCommand>,
    private readonly verdicts: TopicWatch<BackupVerified>,
    workDir: string,
  ) {
    const policies = path.join(workDir, 'policies');
    const store = path.join(workDir, 'backup-store');
    const source = path.join(workDir, 'backup-source');
    for (const dir of [policies, store, path.join(source, 'conf')]) mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(source, 'conf', 'agent.yaml'), 'port: 8080\n');
    writeFileSync(path.join(source, 'data.bin'), Buffer.alloc(64 * 1024, 7));
    const notifierPolicy = path.join(policies, 'notifier.yaml');
    writeFileSync(
      notifierPolicy,
      `heal:
  maxAttempts: ${HEAL_ATTEMPTS}
  timeoutMs: 5000
  verifyMs: 5000
  backoff: { initialMs: 500, factor: 2, jitter: 0.1 }
`,
    );
    const backupPolicy = path.join(policies, 'backups.yaml');
    // A job's timeout well past a paused instance's takeover (session 10 s + the pause), so a job
    // times out only when its agent is dead, not when its result waited for a rebalance.
    writeFileSync(
      backupPolicy,
      `policies:
  - id: ${POLICY_ID}
    selector: ['fleet=${fleetPrefix}', 'host=sim-host-0']
    paths: ['${source}']
    full: { cron: '*/${BACKUP_EVERY_S} * * * * *' }
    retention: { keepLast: 1000 }
    timeoutMs: 60000
    maxAttempts: 3
    retryBackoffMs: 2000
`,
    );
    this.env = {
      notifier: { CONSUMER_GROUP: `${fleetPrefix}-notifier`, NOTIFIER_POLICY_FILE: notifierPolicy },
      'backup-orchestrator': {
        CONSUMER_GROUP: `${fleetPrefix}-backups`,
        BACKUP_POLICY_FILE: backupPolicy,
        BACKUP_STORE_DIR: store,
        TICK_INTERVAL_MS: '250',
      },
    };
    this.groups = {
      [this.env.notifier.CONSUMER_GROUP]: [
        Topics.liveness.name,
        Topics.healResults.name,
        Topics.agentRegistry.name,
        Topics.stateChangelog.name,
        Topics.backupVerified.name,
        Topics.alerts.name,
      ],
      [this.env['backup-orchestrator'].CONSUMER_GROUP]: [
        Topics.agentRegistry.name,
        Topics.stateChangelog.name,
        Topics.backupRequests.name,
        Topics.backupResults.name,
        Topics.restoreResults.name,
      ],
    };
    this.fleetArgs = [
      '--heal-success',
      '0',
      '--heal-latency-ms',
      '200',
      '--backup-store',
      store,
      '--backup-allow',
      source,
    ];
  }

  /** Starts watching the services' output (before they start, so nothing they publish is missed). */
  static async watch(o: {
    kafka: KafkaClient;
    codec: SchemaCodec;
    fleetPrefix: string;
    agentIdAt: (index: number) => string;
    agents: number;
    workDir: string;
  }): Promise<ActingServices> {
    const ours = (id: string | null) => id?.startsWith(`${o.fleetPrefix}-`) === true;
    return new ActingServices(
      o.fleetPrefix,
      Array.from({ length: Math.min(10, o.agents) }, (_, i) => o.agentIdAt(i)),
      await watchTopic(o.kafka, o.codec, Topics.alerts, (a) => ours(a.agentId)),
      await watchTopic(o.kafka, o.codec, Topics.healCommands, (h) => ours(h.agentId)),
      await watchTopic(o.kafka, o.codec, Topics.backupVerified, (v) => ours(v.agentId)),
      o.workDir,
    );
  }

  /**
   * The audit, once what is due has had `timeoutMs` to happen: every killed agent alerted, every
   * backup slot from `from` to `to` verified for the selected agents still alive.
   */
  async audit(
    fleet: { agentIds: readonly string[]; killed: ReadonlySet<string>; from: number; to: number },
    violations: string[],
    timeoutMs = 90_000,
  ): Promise<ActionsAudit> {
    const expected = {
      policyId: POLICY_ID,
      kind: 'full' as const,
      agents: this.backupAgents.filter((a) => !fleet.killed.has(a)),
      slots: slotsBetween(fleet.from, fleet.to, BACKUP_EVERY_S * 1000),
    };
    const check = (into: string[]): ActionsAudit => ({
      alerts: auditAlerts(this.alerts.values(), this.heals.values(), { ...fleet, maxAttempts: HEAL_ATTEMPTS }, into),
      backups: auditBackups(this.verdicts.values(), expected, into),
    });
    await waitUntil(
      () => {
        const a = check([]);
        return a.alerts.killedNotAlerted.length === 0 && a.backups.missing.length === 0;
      },
      timeoutMs,
      'every killed agent alerted and every due backup verified',
    ).catch(() => undefined);
    return check(violations);
  }

  async stop(): Promise<void> {
    await Promise.allSettled([this.alerts.stop(), this.heals.stop(), this.verdicts.stop()]);
  }
}
