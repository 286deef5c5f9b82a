import { randomUUID } from 'node:crypto';
import { alertIndexKeys } from '@vigil/redis-keys';
import type Redis from 'ioredis';
import { parseDuration } from './duration';
import { silenceState, type Silence, type SilenceRequest } from './silences';

/** Expired silences are kept this long for the record (Alertmanager's default retention). */
const KEEP_EXPIRED_MS = 5 * 24 * 3_600_000;

export class SilenceError extends Error {}

/** Silences in Redis, shared by every notifier instance. */
export class SilenceStore {
  private readonly key: string;

  constructor(
    private readonly redis: Redis,
    group: string,
  ) {
    this.key = alertIndexKeys(group).silences;
  }

  async set(req: SilenceRequest, now: number): Promise<Silence> {
    const startsAt = req.startsAt ?? now;
    const endsAt = req.endsAt ?? startsAt + (parseDuration(req.duration!) ?? NaN);
    if (!Number.isFinite(endsAt)) throw new SilenceError(`duration "${req.duration}" is not a duration (e.g. 30m, 2h)`);
    if (endsAt <= startsAt) throw new SilenceError('endsAt must be after startsAt');
    if (endsAt <= now) throw new SilenceError('the silence would already be over (endsAt is in the past)');
    const silence: Silence = {
      id: randomUUID(),
      matchers: req.matchers,
      createdBy: req.createdBy,
      comment: req.comment,
      startsAt,
      endsAt,
      updatedAt: now,
    };
    await this.redis.hset(this.key, silence.id, JSON.stringify(silence));
    return silence;
  }

  /** Every silence, expired ones pruned once past their retention. */
  async all(now: number): Promise<Silence[]> {
    const silences = Object.values(await this.redis.hgetall(this.key)).map((r) => JSON.parse(r) as Silence);
    const old = silences.filter((s) => now - s.endsAt > KEEP_EXPIRED_MS).map((s) => s.id);
    if (old.length > 0) await this.redis.hdel(this.key, ...old);
    return silences.filter((s) => !old.includes(s.id));
  }

  /** Ends a silence now (a pending one never starts). Undefined when there is no such silence. */
  async expire(id: string, now: number): Promise<Silence | undefined> {
    const raw = await this.redis.hget(this.key, id);
    if (!raw) return undefined;
    const s = JSON.parse(raw) as Silence;
    if (silenceState(s, now) === 'expired') return s;
    const ended: Silence = { ...s, endsAt: now, startsAt: Math.min(s.startsAt, now), updatedAt: now };
    await this.redis.hset(this.key, id, JSON.stringify(ended));
    return ended;
  }
}
