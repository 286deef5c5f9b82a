// Commands to agents against the real broker: each host's supervisor runs its own agents' handlers.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  sampleBackupCommand,
  sampleHealCommand,
  Topics,
  type BackupCommand,
  type HealCommand,
  type HealResult,
  type TopicDef,
} from '@vigil/events';
import { ensureTopics, silentLogger } from '@vigil/kafka';
import { infraEnv, isolatedTopic, readRecords, waitUntil } from '@vigil/kafka/testing';
import { AgentSupervisor, type CommandHandlers } from './agent-supervisor';
import { AgentConnection } from './connection';

const env = infraEnv();
const run = randomUUID().slice(0, 8);
const topics = {
  heal: isolatedTopic(Topics.healCommands),
  backup: isolatedTopic(Topics.backupCommands),
  restore: isolatedTopic(Topics.restoreCommands),
  healResults: isolatedTopic(Topics.healResults),
};
const connection = new AgentConnection({ brokers: env.brokers, registryUrl: env.registryUrl, logger: silentLogger });
const supervisors: AgentSupervisor[] = [];

const heal = (agentId: string, overrides: Partial<HealCommand> = {}): HealCommand =>
  sampleHealCommand({ agentId, commandId: randomUUID(), ...overrides });
const backup = (agentId: string): BackupCommand => sampleBackupCommand({ agentId, jobId: randomUUID() });
const send = (def: TopicDef<HealCommand> | TopicDef<BackupCommand>, commands: Array<HealCommand | BackupCommand>) =>
  connection.producer.send(
    def as TopicDef<never>,
    commands.map((value) => ({ value: value as never })),
  );

/** Records every command a handler got; `failOn` makes the heal handler throw for that command id. */
function recorder(failOn = new Set<string>()) {
  const healed: HealCommand[] = [];
  const backedUp: BackupCommand[] = [];
  const handlers: CommandHandlers = {
    heal: (c) => {
      healed.push(c);
      if (failOn.has(c.commandId)) throw new Error('restart failed');
    },
    backup: (c) => void backedUp.push(c),
  };
  return { healed, backedUp, handlers };
}

/**
 * A new supervisor group starts at the end of the topics, and where that end is gets fixed only
 * once it fetches: until a probe command for one of its agents comes through, it is not listening yet.
 */
async function startListening(supervisor: AgentSupervisor, agentId: string, seen: () => HealCommand[]) {
  supervisors.push(supervisor);
  await supervisor.start();
  await waitUntil(
    async () => {
      if (seen().some((c) => c.reason === 'probe')) return true;
      await send(topics.heal, [heal(agentId, { reason: 'probe' })]);
      return false;
    },
    60000,
    `${supervisor.groupId} to listen`,
  );
}

const real = (list: HealCommand[]) => list.filter((c) => c.reason !== 'probe');

describe('AgentSupervisor: commands reach the agents of their host only', () => {
  const failing = randomUUID();
  const failOn = new Set([failing]);
  const hostA = recorder(failOn);
  const a2 = { healed: [] as HealCommand[] };
  const hostB = recorder();
  let a: AgentSupervisor;
  let b: AgentSupervisor;

  before(async () => {
    await ensureTopics(
      connection.kafka,
      [topics.heal, topics.backup, topics.restore, topics.healResults] as TopicDef<unknown>[],
      silentLogger,
    );
    a = new AgentSupervisor({ connection, hostId: `host-a-${run}`, topics, logger: silentLogger });
    a.register(`a1-${run}`, hostA.handlers);
    a.register(`a2-${run}`, { heal: (c) => void a2.healed.push(c) }); // takes no backups
    b = new AgentSupervisor({ connection, hostId: `host-b-${run}`, topics, logger: silentLogger });
    b.register(`b1-${run}`, hostB.handlers);
    await startListening(a, `a1-${run}`, () => hostA.healed);
    await startListening(b, `b1-${run}`, () => hostB.healed);
  });

  after(async () => {
    await Promise.allSettled(supervisors.map((s) => s.stop()));
    await connection.close();
  });

  it('calls each registered agent handler once per command, and no other host runs it', async () => {
    const commands = [heal(`a1-${run}`), heal(`a2-${run}`), heal(`b1-${run}`), heal(`nobody-${run}`)];
    const jobs = [backup(`a1-${run}`), backup(`b1-${run}`)];
    await send(topics.heal, commands);
    await send(topics.backup, jobs);
    await waitUntil(
      () => real(hostA.healed).length === 1 && a2.healed.length === 1 && real(hostB.healed).length === 1,
      30000,
      'the heal commands',
    );
    await waitUntil(() => hostA.backedUp.length === 1 && hostB.backedUp.length === 1, 30000, 'the backups');
    assert.deepEqual(
      real(hostA.healed).map((c) => c.commandId),
      [commands[0]!.commandId],
    );
    assert.deepEqual(
      a2.healed.map((c) => c.commandId),
      [commands[1]!.commandId],
    );
    assert.deepEqual(
      real(hostB.healed).map((c) => c.commandId),
      [commands[2]!.commandId],
    );
    assert.deepEqual(
      hostA.backedUp.map((c) => c.jobId),
      [jobs[0]!.jobId],
    );
    assert.deepEqual(
      hostB.backedUp.map((c) => c.jobId),
      [jobs[1]!.jobId],
    );
    assert.ok(a.stats().passedOver > 0 && b.stats().passedOver > 0, "other hosts' commands are passed over");
  });

  it('counts a command for an agent that takes no such command, and one whose handler throws, and goes on', async () => {
    const before = a.stats();
    await send(topics.backup, [backup(`a2-${run}`)]);
    await send(topics.heal, [heal(`a1-${run}`, { commandId: failing }), heal(`a2-${run}`)]);
    await waitUntil(() => a2.healed.length === 2, 30000, 'the command after the failing one');
    await waitUntil(() => a.stats().unhandled > before.unhandled, 30000, 'the unhandled backup to be counted');
    assert.equal(a.stats().failed, before.failed + 1);
  });

  it('answers every heal with a HealResult: success when the handler returns, its error when it throws; a repeated command is answered, not run again', async () => {
    const ok = heal(`a1-${run}`);
    const failing2 = randomUUID();
    failOn.add(failing2);
    const bad = heal(`a1-${run}`, { commandId: failing2, attempt: 2 });
    const ran = real(hostA.healed).length;
    await send(topics.heal, [ok, bad, ok]);
    await waitUntil(() => real(hostA.healed).length >= ran + 2, 30000, 'the heals');
    const decoded = async () => {
      const out: HealResult[] = [];
      for (const m of await readRecords(connection.kafka, topics.healResults.name, 1)) {
        const d = await connection.codec.decode(topics.healResults, m.value);
        if (d.ok) out.push(d.value);
      }
      return out;
    };
    let mine: HealResult[] = [];
    await waitUntil(
      async () =>
        (mine = (await decoded()).filter((r) => r.commandId === ok.commandId || r.commandId === failing2)).length >= 3,
      30000,
      'three results',
    );
    const okResults = mine.filter((r) => r.commandId === ok.commandId);
    assert.equal(okResults.length, 2, 'the repeated command is answered too');
    assert.ok(okResults.every((r) => r.success && r.error === null));
    assert.deepEqual(okResults[0], okResults[1], 'with the same result');
    const badResult = mine.find((r) => r.commandId === failing2)!;
    assert.equal(badResult.success, false);
    assert.equal(badResult.error, 'restart failed');
    assert.equal(badResult.attempt, 2);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(
      real(hostA.healed).filter((c) => c.commandId === ok.commandId).length,
      1,
      'the repeated command did not run twice',
    );
  });

  it('refuses a command it cannot decode (logged and counted, not dead-lettered by every host) and goes on', async () => {
    const refusedBefore = a.stats().refused;
    await connection.producer.sendRaw(topics.heal.name, [{ key: `a2-${run}`, value: Buffer.from('not a command') }]);
    await send(topics.heal, [heal(`a2-${run}`)]);
    await waitUntil(() => a2.healed.length === 3, 30000, 'the valid command after the garbage');
    // The batch's handler runs before its refused records are counted (they are written with the
    // batch's dead letters, after it): the count catches up when the batch is done.
    await waitUntil(() => a.stats().refused > refusedBefore, 30000, 'the garbage to be refused');
    assert.equal(a.stats().refused, refusedBefore + 1);
  });

  it('delivers the commands issued while the supervisor was stopped, and does not run the old ones again', async () => {
    await a.stop();
    const whileDown = heal(`a2-${run}`);
    await send(topics.heal, [whileDown]);
    const restarted = new AgentSupervisor({ connection, hostId: `host-a-${run}`, topics, logger: silentLogger });
    supervisors.push(restarted);
    const seen: HealCommand[] = [];
    restarted.register(`a2-${run}`, { heal: (c) => void seen.push(c) });
    await restarted.start();
    await waitUntil(() => seen.length >= 1, 60000, 'the command sent while it was down');
    await new Promise((r) => setTimeout(r, 2000));
    assert.deepEqual(
      seen.map((c) => c.commandId),
      [whileDown.commandId],
      'only the new command: the handled ones were committed',
    );
  });
});
