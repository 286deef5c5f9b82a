import { Controller, UseFilters } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import {
  Topics,
  type AgentLivenessChanged,
  type AgentRegistration,
  type AlertEvent,
  type BackupVerified,
  type HealResult,
  type StateChangeEvent,
} from '@vigil/events';
import { type ConsumedRecord } from '@vigil/kafka';
import { HandlerErrorsPassThrough } from '@vigil/platform';
import { IncidentProcessor } from './incident-processor';
import { AlertRouter } from './routing/alert-router';

@Controller()
@UseFilters(HandlerErrorsPassThrough)
export class NotifierEventsController {
  constructor(
    private readonly incidents: IncidentProcessor,
    private readonly router: AlertRouter,
  ) {}

  // A new group starts at the end: a week of liveness history would heal and alert about agents
  // long gone. An existing group resumes where it committed (events already handled are no-ops).
  @EventPattern(Topics.liveness.name, { fromBeginning: false })
  async onLiveness(@Payload() records: Array<ConsumedRecord<AgentLivenessChanged>>) {
    await this.incidents.onLiveness(records);
  }

  @EventPattern(Topics.healResults.name, { fromBeginning: false })
  async onHealResults(@Payload() records: Array<ConsumedRecord<HealResult>>) {
    await this.incidents.onHealResults(records);
  }

  // The directory of agents (compacted): a new group reads all of it, then follows changes.
  @EventPattern(Topics.agentRegistry.name, { fromBeginning: true, tombstones: true })
  async onRegistrations(@Payload() records: Array<ConsumedRecord<AgentRegistration | null>>) {
    await this.incidents.onRegistrations(records);
  }

  // Accepted changes only (state-sync deduped and version-gated them): the rules see each version
  // once. Deletions are tombstones on this compacted topic: handed over as null, not dead-lettered.
  @EventPattern(Topics.stateChangelog.name, { fromBeginning: false, tombstones: true })
  async onStateChanges(@Payload() records: Array<ConsumedRecord<StateChangeEvent | null>>) {
    await this.incidents.onStateChanges(records);
  }

  // The orchestrator's verdicts (not the agents' reports): a failed or timed-out backup alerts.
  @EventPattern(Topics.backupVerified.name, { fromBeginning: false })
  async onBackupVerdicts(@Payload() records: Array<ConsumedRecord<BackupVerified>>) {
    await this.incidents.onBackupVerdicts(records);
  }

  // The notifier reads its own alerts back to route and group them: a webhook that is down then
  // delays nothing but its own notifications, and what is grouped or queued survives a restart.
  @EventPattern(Topics.alerts.name, { fromBeginning: false })
  async onAlerts(@Payload() records: Array<ConsumedRecord<AlertEvent>>) {
    await this.router.onAlerts(records);
  }
}
