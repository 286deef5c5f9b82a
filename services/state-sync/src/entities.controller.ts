import { Controller, Get, NotFoundException, Param } from '@nestjs/common';
import { StateStore, type EntityState } from './state-store';

const view = (s: EntityState, now: number) => ({
  entityId: s.entityId,
  entityType: s.entityType,
  agentId: s.agentId,
  version: s.version,
  eventType: s.eventType,
  lastEventId: s.lastEventId,
  payload: s.payload,
  timestamp: s.timestamp,
  appliedAt: s.appliedAt,
  ageMs: now - s.appliedAt,
});

/** Read API over the current state: what Redis holds, newest version per entity. */
@Controller()
export class EntitiesController {
  constructor(private readonly store: StateStore) {}

  @Get('entities/:entityId')
  async entity(@Param('entityId') entityId: string) {
    const state = await this.store.entity(entityId);
    if (!state) throw new NotFoundException(`entity ${entityId} is not known`);
    if (state.eventType === 'deleted')
      throw new NotFoundException(`entity ${entityId} was deleted at version ${state.version}`);
    return view(state, Date.now());
  }

  @Get('agents/:agentId/entities')
  async entitiesOfAgent(@Param('agentId') agentId: string) {
    const now = Date.now();
    const entities = (await this.store.entitiesOfAgent(agentId)).filter((s) => s.eventType !== 'deleted');
    return { agentId, count: entities.length, entities: entities.map((s) => view(s, now)) };
  }
}
