import type { AgentPublisher } from './agent-publisher';
import type { AgentSupervisor } from './agent-supervisor';

interface Family {
  name: string;
  type: 'counter' | 'gauge';
  help: string;
  samples: Array<{ labels: Record<string, string>; value: number }>;
}

const escape = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

function render(families: Family[]): string {
  const lines: string[] = [];
  for (const f of families) {
    if (f.samples.length === 0) continue;
    lines.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels = Object.entries(s.labels)
        .map(([k, v]) => `${k}="${escape(v)}"`)
        .join(',');
      lines.push(`${f.name}${labels ? `{${labels}}` : ''} ${s.value}`);
    }
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

/**
 * The SDK's counts in Prometheus' text format (version 0.0.4), for a host to serve on its own
 * /metrics: the SDK loads no metrics library, so a host pays for none unless it asks. One family
 * per measure, one sample per agent (label `agent`) or supervisor (label `host`), so a host that
 * runs many agents serves one valid exposition.
 */
export function agentMetricsText(parts: { publishers?: AgentPublisher[]; supervisors?: AgentSupervisor[] }): string {
  const publishers = (parts.publishers ?? []).map((p) => ({ agent: p.agentId, s: p.stats() }));
  const supervisors = (parts.supervisors ?? []).map((s) => ({ host: s.hostId, s: s.stats() }));
  const perAgent = (
    name: string,
    type: Family['type'],
    help: string,
    value: (s: (typeof publishers)[number]['s']) => number,
  ): Family => ({
    name,
    type,
    help,
    samples: publishers.map((p) => ({ labels: { agent: p.agent }, value: value(p.s) })),
  });
  const outcomes = ['handled', 'failed', 'unhandled', 'refused'] as const;
  return render([
    perAgent(
      'vigil_agent_state_changes_pending',
      'gauge',
      'State changes in the journal not yet acknowledged by Kafka',
      (s) => s.pending,
    ),
    perAgent('vigil_agent_journal_bytes', 'gauge', 'Bytes of undelivered state changes on disk', (s) => s.bufferBytes),
    perAgent(
      'vigil_agent_state_changes_delivered_total',
      'counter',
      'State changes acknowledged by Kafka',
      (s) => s.delivered,
    ),
    perAgent(
      'vigil_agent_send_attempts_total',
      'counter',
      'Sends of journalled state changes tried',
      (s) => s.sendAttempts,
    ),
    perAgent(
      'vigil_agent_send_failures_total',
      'counter',
      'Sends of journalled state changes that failed (retried)',
      (s) => s.sendFailures,
    ),
    perAgent(
      'vigil_agent_state_changes_dropped_total',
      'counter',
      'State changes refused because the journal was full',
      (s) => s.droppedStateChanges,
    ),
    perAgent(
      'vigil_agent_heartbeats_dropped_total',
      'counter',
      'Heartbeats dropped while Kafka was unreachable (oldest first)',
      (s) => s.droppedHeartbeats,
    ),
    perAgent('vigil_agent_kafka_connected', 'gauge', '1 while the agent has a working connection to Kafka', (s) =>
      s.connected ? 1 : 0,
    ),
    {
      name: 'vigil_supervisor_commands_total',
      type: 'counter',
      help: "Commands for this host's agents, by outcome",
      samples: supervisors.flatMap((s) =>
        outcomes.map((o) => ({ labels: { host: s.host, outcome: o }, value: s.s[o] })),
      ),
    },
    {
      name: 'vigil_supervisor_passed_over_total',
      type: 'counter',
      help: "Records of the command topics for other hosts' agents, passed over undecoded",
      samples: supervisors.map((s) => ({ labels: { host: s.host }, value: s.s.passedOver })),
    },
  ]);
}
