import {
  Body,
  ConflictException,
  Controller,
  Get,
  HttpCode,
  NotFoundException,
  Param,
  Post,
  UnprocessableEntityException,
  UseFilters,
} from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { Topics, type RestoreResult } from '@vigil/events';
import type { ConsumedRecord } from '@vigil/kafka';
import { HandlerErrorsPassThrough } from '@vigil/platform';
import { z } from 'zod';
import { parseBody } from '../http-body';
import { summary, type RestorePlan } from './restore-progress';
import { PlanNotRunnable, PlanRefused, RestorePlans } from './restore-plans';

const planRequest = z
  .object({
    agents: z.array(z.string().min(1)).default([]),
    selector: z
      .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*(=|!=)[^=]*$/, 'a selector is label=value or label!=value'))
      .default([]),
    targetDir: z.string().startsWith('/', 'an absolute directory').nullable().default(null),
    run: z.boolean().default(false),
  })
  .strict();

const view = (plan: RestorePlan) => ({ ...plan, summary: summary(plan) });

/**
 * Restore plans over HTTP: POST /restore-plans is the dry run (the ordered plan with estimates and
 * RTO misses, stored as a draft), POST /restore-plans/:id/run runs it (or `run: true` at once),
 * GET /restore-plans/:id follows it. Results from agents arrive on vigil.restore.results.
 */
@Controller('restore-plans')
@UseFilters(HandlerErrorsPassThrough)
export class RestorePlansController {
  constructor(private readonly plans: RestorePlans) {}

  @Post()
  @HttpCode(201)
  async create(@Body() body: unknown) {
    const request = parseBody(planRequest, body, 'restore plan request');
    try {
      const plan = await this.plans.create(request);
      return view(request.run ? await this.plans.run(plan.planId) : plan);
    } catch (e) {
      if (e instanceof PlanRefused) throw new UnprocessableEntityException(e.message);
      if (e instanceof PlanNotRunnable) throw new ConflictException(e.message);
      throw e;
    }
  }

  @Post(':id/run')
  @HttpCode(202)
  async run(@Param('id') id: string) {
    try {
      return view(await this.plans.run(id));
    } catch (e) {
      if (e instanceof PlanNotRunnable && /no restore plan/.test(e.message)) throw new NotFoundException(e.message);
      if (e instanceof PlanNotRunnable) throw new ConflictException(e.message);
      throw e;
    }
  }

  @Get()
  async list() {
    const plans = (await this.plans.store.all()).sort((a, b) => b.createdAt - a.createdAt);
    return {
      plans: plans.map((p) => ({ planId: p.planId, status: p.status, createdAt: p.createdAt, summary: summary(p) })),
    };
  }

  @Get(':id')
  async get(@Param('id') id: string) {
    const plan = await this.plans.store.load(id);
    if (!plan) throw new NotFoundException(`no restore plan ${id}`);
    return view(plan);
  }

  // Agents' reports on the steps this group commanded (a new group has none older than itself).
  @EventPattern(Topics.restoreResults.name, { fromBeginning: false })
  async onResults(@Payload() records: Array<ConsumedRecord<RestoreResult>>) {
    await this.plans.onResults(records);
  }
}
