import { Controller, UseFilters } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { Topics, type Heartbeat } from '@vigil/events';
import { type ConsumedRecord } from '@vigil/kafka';
import { HandlerErrorsPassThrough, KafkaBatchContext } from '@vigil/platform';
import { LivenessTracker } from './liveness-tracker';

@Controller()
@UseFilters(HandlerErrorsPassThrough)
export class HeartbeatsController {
  constructor(private readonly tracker: LivenessTracker) {}

  // Empty batches too (all records dead-lettered): the tracker must see its position move to know
  // the partition is caught up, or that partition's clock would stand still. A new group starts at
  // the end: liveness is about now, and replaying a day of heartbeats of long-gone agents would only
  // declare them dead again. An existing group resumes from its committed offsets.
  @EventPattern(Topics.heartbeats.name, { includeEmptyBatches: true, fromBeginning: false })
  async onHeartbeats(@Payload() records: Array<ConsumedRecord<Heartbeat>>, @Ctx() ctx: KafkaBatchContext) {
    await this.tracker.apply(records, ctx.batch);
  }
}
