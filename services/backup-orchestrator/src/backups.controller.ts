import {
  BadRequestException,
  Body,
  Controller,
  Get,
  HttpCode,
  NotFoundException,
  Param,
  Post,
  Query,
} from '@nestjs/common';
import { z } from 'zod';
import { BackupJobs, UnknownPolicy } from './backup-jobs';
import { parseBody } from './http-body';

const manualRequest = z
  .object({ policyId: z.string().min(1), kind: z.enum(['full', 'incremental']).default('full') })
  .strict();

/** Policies, jobs and backups over HTTP, and manual backups. */
@Controller()
export class BackupsController {
  constructor(private readonly jobs: BackupJobs) {}

  @Get('policies')
  policies() {
    return this.jobs.policies;
  }

  /** Jobs, newest first; `?agent=`, `?status=`, `?policy=` narrow them; `?limit=` (default 100). */
  @Get('jobs')
  async list(
    @Query('agent') agent?: string,
    @Query('status') status?: string,
    @Query('policy') policy?: string,
    @Query('limit') limit?: string,
  ) {
    const jobs = (await this.jobs.store.all())
      .filter(
        (j) =>
          (!agent || j.agentId === agent) && (!status || j.status === status) && (!policy || j.policyId === policy),
      )
      .sort((a, b) => b.requestedAt - a.requestedAt)
      .slice(0, Number(limit ?? 100) || 100);
    return { jobs };
  }

  @Get('jobs/:id')
  async job(@Param('id') id: string) {
    const job = await this.jobs.store.load(id);
    if (!job) throw new NotFoundException(`no backup job ${id}`);
    return job;
  }

  /** The agent's kept (verified) backups, newest first. */
  @Get('agents/:id/backups')
  async backups(@Param('id') id: string) {
    return { backups: (await this.jobs.store.kept(id)).sort((a, b) => b.verifiedAt - a.verifiedAt) };
  }

  /** A backup now: `{ policyId, kind }` (an incremental without a verified chain becomes a full). */
  @Post('agents/:id/backups')
  @HttpCode(202)
  async manual(@Param('id') id: string, @Body() body: unknown) {
    const request = parseBody(manualRequest, body, 'backup request');
    try {
      return { jobId: await this.jobs.manual(request.policyId, id, request.kind) };
    } catch (e) {
      if (e instanceof UnknownPolicy) throw new BadRequestException(e.message);
      throw e;
    }
  }

  /** Reads a kept backup back now (as the scrub does): still there, same size and SHA-256. */
  @Post('jobs/:id/verify')
  @HttpCode(200)
  async reverify(@Param('id') id: string) {
    try {
      const job = await this.jobs.reverify(id);
      return { jobId: id, status: job.status, verdict: job.verdict };
    } catch (e) {
      if (e instanceof UnknownPolicy) throw new NotFoundException(e.message);
      throw e;
    }
  }
}
