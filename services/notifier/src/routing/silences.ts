import { z } from 'zod';
import { matchesAll, parseMatcher, type Matcher } from './matchers';

/** A silence, as Alertmanager's API v2 has it: matchers, who set it and why, and when it ends. */
export interface Silence {
  id: string;
  matchers: Matcher[];
  createdBy: string;
  comment: string;
  startsAt: number;
  endsAt: number;
  updatedAt: number;
}

export type SilenceState = 'pending' | 'active' | 'expired';

export const silenceState = (s: Silence, now: number): SilenceState =>
  now < s.startsAt ? 'pending' : now < s.endsAt ? 'active' : 'expired';

/** Ids of the silences muting these labels now. */
export const silencedBy = (silences: Silence[], labels: Record<string, string>, now: number): string[] =>
  silences.filter((s) => silenceState(s, now) === 'active' && matchesAll(s.matchers, labels)).map((s) => s.id);

const time = z.union([
  z.number().int(),
  z
    .string()
    .datetime({ offset: true })
    .transform((t) => Date.parse(t)),
]);
const matcher = z.union([
  z.string().transform((t, ctx) => {
    const m = parseMatcher(t);
    if (typeof m === 'string') {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: m });
      return z.NEVER;
    }
    return m;
  }),
  z
    .object({
      name: z.string().min(1),
      value: z.string(),
      isRegex: z.boolean().default(false),
      isEqual: z.boolean().default(true),
    })
    .strict()
    .superRefine((m, ctx) => {
      const parsed = parseMatcher(`${m.name}${m.isRegex ? '=~' : '='}${JSON.stringify(m.value)}`);
      if (typeof parsed === 'string') ctx.addIssue({ code: z.ZodIssueCode.custom, message: parsed });
    }),
]);

/**
 * A silence to set: Alertmanager's body (matchers as objects or as text, `startsAt`/`endsAt` as
 * ISO times or ms), or `duration` instead of `endsAt`. A silence that matches everything is refused:
 * it would mute the whole fleet.
 */
export const silenceRequest = z
  .object({
    matchers: z.array(matcher).min(1, 'a silence needs at least one matcher'),
    createdBy: z.string().min(1, 'say who sets the silence (createdBy)'),
    comment: z.string().min(1, 'say why (comment)'),
    startsAt: time.optional(),
    endsAt: time.optional(),
    /** Instead of endsAt: how long from startsAt, e.g. `2h` or ms. */
    duration: z.union([z.string(), z.number()]).optional(),
  })
  .strict()
  .refine((s) => (s.endsAt === undefined) !== (s.duration === undefined), 'give exactly one of endsAt and duration')
  .refine(
    (s) => !matchesAll(s.matchers, {}),
    'a silence whose matchers match an alert with no labels would mute everything',
  );

export type SilenceRequest = z.infer<typeof silenceRequest>;
