import { Controller, Get, NotFoundException, Param } from '@nestjs/common';
import { IncidentStore } from './incident-store';
import { SHARDS } from './incident-processor';

/** Each agent's heal attempts over HTTP, read from Redis. */
@Controller()
export class IncidentsController {
  constructor(private readonly store: IncidentStore) {}

  /** The agent's current or last incident: its phase and every heal attempt with its outcome. */
  @Get('agents/:id/heals')
  async heals(@Param('id') id: string) {
    const i = await this.store.find(id, SHARDS);
    if (!i) throw new NotFoundException(`the notifier has seen no trouble with agent ${id}`);
    return { agentId: i.key, phase: i.phase, cause: i.cause ?? null, dueAt: i.dueAt ?? null, attempts: i.attempts };
  }
}
