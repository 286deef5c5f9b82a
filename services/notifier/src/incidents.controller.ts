import { Controller, Get, NotFoundException, Param, Query } from '@nestjs/common';
import type { AlertEvent } from '@vigil/events';
import { IncidentStore } from './incident-store';
import { SHARDS } from './incident-processor';

/** The notifier's state over HTTP: open alerts and each agent's heal attempts, read from Redis. */
@Controller()
export class IncidentsController {
  constructor(private readonly store: IncidentStore) {}

  /** Open (firing) alerts, newest first; `?agent=`, `?alertname=`, `?severity=` narrow them. */
  @Get('alerts')
  async alerts(
    @Query('agent') agent?: string,
    @Query('alertname') alertname?: string,
    @Query('severity') severity?: string,
  ): Promise<{ alerts: AlertEvent[] }> {
    const alerts = (await this.store.all(SHARDS))
      .flatMap((i) => (i.phase === 'alerting' && i.alert ? [i.alert] : []))
      .filter(
        (a) =>
          (!agent || a.agentId === agent) &&
          (!alertname || a.alertName === alertname) &&
          (!severity || a.severity === severity),
      )
      .sort((a, b) => b.startsAt - a.startsAt);
    return { alerts };
  }

  /** The agent's current or last incident: its phase and every heal attempt with its outcome. */
  @Get('agents/:id/heals')
  async heals(@Param('id') id: string) {
    const i = await this.store.find(id, SHARDS);
    if (!i) throw new NotFoundException(`the notifier has seen no trouble with agent ${id}`);
    return { agentId: i.key, phase: i.phase, cause: i.cause ?? null, dueAt: i.dueAt ?? null, attempts: i.attempts };
  }
}
