import { Controller, UseFilters } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { Topics, type AgentRegistration, type BackupResult } from '@vigil/events';
import type { ConsumedRecord } from '@vigil/kafka';
import { HandlerErrorsPassThrough } from '@vigil/platform';
import { BackupJobs } from './backup-jobs';

@Controller()
@UseFilters(HandlerErrorsPassThrough)
export class BackupEventsController {
  constructor(private readonly jobs: BackupJobs) {}

  // The directory of agents (compacted): a new group reads all of it, then follows changes.
  @EventPattern(Topics.agentRegistry.name, { fromBeginning: true, tombstones: true })
  async onRegistrations(@Payload() records: Array<ConsumedRecord<AgentRegistration | null>>) {
    await this.jobs.onRegistrations(records);
  }

  // Reports on jobs this group asked for (a new group has none older than itself).
  @EventPattern(Topics.backupResults.name, { fromBeginning: false })
  async onResults(@Payload() records: Array<ConsumedRecord<BackupResult>>) {
    await this.jobs.onResults(records);
  }
}
