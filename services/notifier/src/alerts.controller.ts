import {
  BadRequestException,
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  NotFoundException,
  Param,
  Post,
  Query,
} from '@nestjs/common';
import { Topics, type AlertEvent } from '@vigil/events';
import { AlertRouter, type MuteState } from './routing/alert-router';
import { GroupStore } from './routing/group-store';
import { matchesAll, parseMatcher, type Matcher } from './routing/matchers';
import { SilenceError, SilenceStore } from './routing/silence-store';
import { silenceRequest, silenceState } from './routing/silences';

type ListedAlert = AlertEvent & MuteState & { state: 'active' | 'suppressed' };

/**
 * Alerts, groups and silences over HTTP, as an operator knows them from Alertmanager: open alerts
 * with what mutes them, the groups waiting or notified, silences set, listed and expired.
 */
@Controller()
export class AlertsController {
  constructor(
    private readonly groups: GroupStore,
    private readonly silences: SilenceStore,
    private readonly router: AlertRouter,
  ) {}

  /**
   * Firing alerts, newest first, each with `state` (active, or suppressed by a silence or an
   * inhibiting alert) and what suppresses it. `?agent=`, `?alertname=`, `?severity=`, `?host=` narrow
   * them; `?filter=<matcher>` (repeatable) takes Alertmanager's matchers; `?active=false` hides
   * nothing by default, `?silenced=false` / `?inhibited=false` hide muted ones.
   */
  @Get('alerts')
  async alerts(
    @Query('agent') agent?: string,
    @Query('alertname') alertname?: string,
    @Query('severity') severity?: string,
    @Query('host') host?: string,
    @Query('filter') filter?: string | string[],
    @Query('silenced') silenced?: string,
    @Query('inhibited') inhibited?: string,
  ): Promise<{ alerts: ListedAlert[] }> {
    const matchers: Matcher[] = [filter ?? []].flat().map((t) => {
      const m = parseMatcher(t);
      if (typeof m === 'string') throw new BadRequestException(m);
      return m;
    });
    const open = (await this.groups.openAlerts()).filter(
      (a) =>
        (!agent || a.agentId === agent) &&
        (!alertname || a.alertName === alertname) &&
        (!severity || a.severity === severity) &&
        (!host || a.labels.host === host) &&
        matchesAll(matchers, a.labels),
    );
    const mutes = await this.router.mutes(open, Date.now());
    const alerts = open
      .map((a): ListedAlert => {
        const m = mutes.get(a.fingerprint)!;
        return { ...a, ...m, state: m.silencedBy.length + m.inhibitedBy.length > 0 ? 'suppressed' : 'active' };
      })
      .filter(
        (a) =>
          (silenced !== 'false' || a.silencedBy.length === 0) && (inhibited !== 'false' || a.inhibitedBy.length === 0),
      )
      .sort((a, b) => b.startsAt - a.startsAt);
    return { alerts };
  }

  /** The alert groups (one per route, receiver and group labels) and what each last notified. */
  @Get('alerts/groups')
  async alertGroups() {
    return { groups: await this.groups.allGroups(Topics.alerts.partitions) };
  }

  @Get('silences')
  async list() {
    const now = Date.now();
    const all = await this.silences.all(now);
    return {
      silences: all.map((s) => ({ ...s, state: silenceState(s, now) })).sort((a, b) => b.updatedAt - a.updatedAt),
    };
  }

  /** Sets a silence (Alertmanager's body; see silenceRequest). Answers its id. */
  @Post('silences')
  async set(@Body() body: unknown) {
    const parsed = silenceRequest.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new BadRequestException(`silence: ${issue.path.join('.') || '(body)'}: ${issue.message}`);
    }
    try {
      const s = await this.silences.set(parsed.data, Date.now());
      this.router.silencesChanged();
      return { silenceID: s.id, silence: { ...s, state: silenceState(s, Date.now()) } };
    } catch (e) {
      if (e instanceof SilenceError) throw new BadRequestException(`silence: ${e.message}`);
      throw e;
    }
  }

  /** Expires a silence now: what it muted notifies again at its group's next flush. */
  @Delete('silences/:id')
  @HttpCode(200)
  async expire(@Param('id') id: string) {
    const s = await this.silences.expire(id, Date.now());
    if (!s) throw new NotFoundException(`no silence ${id}`);
    this.router.silencesChanged();
    return { silence: { ...s, state: silenceState(s, Date.now()) } };
  }
}
