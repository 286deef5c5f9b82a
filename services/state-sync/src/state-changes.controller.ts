import { Controller, UseFilters } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { Topics, type StateChangeEvent } from '@vigil/events';
import type { ConsumedRecord } from '@vigil/kafka';
import { HandlerErrorsPassThrough, KafkaBatchContext } from '@vigil/platform';
import { StateChangeProcessor } from './state-change-processor';

/** StateChangeEvents in; the processor applies them exactly once (see there). */
@Controller()
@UseFilters(HandlerErrorsPassThrough)
export class StateChangesController {
  constructor(private readonly processor: StateChangeProcessor) {}

  @EventPattern(Topics.stateChanges.name)
  async onStateChanges(@Payload() records: Array<ConsumedRecord<StateChangeEvent>>, @Ctx() ctx: KafkaBatchContext) {
    await this.processor.process(records, ctx.batch);
  }
}
