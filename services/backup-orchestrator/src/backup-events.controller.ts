import { Controller, UseFilters } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import {
  Topics,
  type AgentRegistration,
  type BackupRequest,
  type BackupResult,
  type StateChangeEvent,
} from '@vigil/events';
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

  // Accepted changes only (state-sync deduped and version-gated them): each triggers at most once.
  // Deletions are tombstones on this compacted topic: handed over as null, not dead-lettered.
  @EventPattern(Topics.stateChangelog.name, { fromBeginning: false, tombstones: true })
  async onStateChanges(@Payload() records: Array<ConsumedRecord<StateChangeEvent | null>>) {
    await this.jobs.onStateChanges(records);
  }

  // Backups other services ask for (the notifier's pre-heal backups).
  @EventPattern(Topics.backupRequests.name, { fromBeginning: false })
  async onRequests(@Payload() records: Array<ConsumedRecord<BackupRequest>>) {
    await this.jobs.onRequests(records);
  }

  // Reports on jobs this group asked for (a new group has none older than itself).
  @EventPattern(Topics.backupResults.name, { fromBeginning: false })
  async onResults(@Payload() records: Array<ConsumedRecord<BackupResult>>) {
    await this.jobs.onResults(records);
  }
}
