import { readFileSync } from 'node:fs';
import { CronExpressionParser } from 'cron-parser';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

const cron = z
  .object({
    /** Five fields (minute first) or six (seconds first). */
    cron: z.string().min(1),
    /** An IANA time zone: `0 2 * * *` in Europe/Berlin is 02:00 there, across DST. */
    timezone: z.string().default('UTC'),
  })
  .strict()
  .superRefine((c, ctx) => {
    try {
      new Intl.DateTimeFormat('en', { timeZone: c.timezone });
    } catch {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `time zone "${c.timezone}" is not an IANA time zone` });
      return;
    }
    try {
      CronExpressionParser.parse(c.cron, { tz: c.timezone });
    } catch (e) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: `cron "${c.cron}" (${c.timezone}): ${(e as Error).message}`,
      });
    }
  });

const matcher = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*(=|!=)[^=]*$/, 'a selector is label=value or label!=value');

export const policySchema = z
  .object({
    policies: z
      .array(
        z
          .object({
            id: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'a policy id is letters, digits, _ . -'),
            /** Which agents: every matcher holds on the agent's labels (plus `agent` and `host`). Empty: all. */
            selector: z.array(matcher).default([]),
            paths: z.array(z.string().startsWith('/', 'paths are absolute')).min(1),
            full: cron.optional(),
            incremental: cron.optional(),
            /** A backup when an entity of one of these types changed (each accepted change, read from the changelog). */
            onStateChange: z
              .object({
                entityTypes: z.array(z.string().min(1)).min(1),
                kind: z.enum(['full', 'incremental']).default('incremental'),
              })
              .strict()
              .optional(),
            retention: z
              .object({
                /** Verified backups kept per agent (the newest); older ones are pruned unless a kept one needs them. */
                keepLast: z.number().int().min(1).default(7),
                /** Older than this is pruned (same exceptions). */
                maxAgeDays: z.number().positive().optional(),
              })
              .strict()
              .default({}),
            timeoutMs: z.number().int().min(1000).default(3_600_000),
            maxAttempts: z.number().int().min(1).max(20).default(3),
            retryBackoffMs: z.number().int().min(0).default(30_000),
          })
          .strict(),
      )
      .default([])
      .refine((ps) => new Set(ps.map((p) => p.id)).size === ps.length, 'policy ids must be unique'),
  })
  .strict();

export type BackupPolicies = z.infer<typeof policySchema>;
export type BackupPolicy = BackupPolicies['policies'][number];

export class PolicyError extends Error {}

/** Reads and validates the policy file; an error names the path, the field and the reason. */
export function loadPolicies(path: string | undefined): BackupPolicies {
  if (!path) return policySchema.parse({});
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, 'utf8')) ?? {};
  } catch (e) {
    throw new PolicyError(`policy file ${path}: ${(e as Error).message.split('\n')[0]}`);
  }
  const parsed = policySchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new PolicyError(`policy file ${path}: field ${issue.path.join('.') || '(top level)'}: ${issue.message}`);
  }
  return parsed.data;
}

/** Whether a selector (a policy's, or a restore plan's) takes an agent with these labels. */
export function selects(policy: Pick<BackupPolicy, 'selector'>, labels: Record<string, string>): boolean {
  return policy.selector.every((m) => {
    const [name, value] = m.includes('!=') ? m.split('!=') : m.split('=');
    const equal = (labels[name!] ?? '') === value;
    return m.includes('!=') ? !equal : equal;
  });
}

/**
 * The newest slot of a cron schedule at or before `now`, if it is later than `after` (nothing is
 * back-filled from before that: the agent's registration, or the misfire grace).
 */
export function latestSlot(c: { cron: string; timezone: string }, now: number, after: number): number | undefined {
  const it = CronExpressionParser.parse(c.cron, { tz: c.timezone, currentDate: new Date(now + 1) });
  const slot = it.prev().getTime();
  return slot > after ? slot : undefined;
}
