import { readFileSync } from 'node:fs';
import type { AlertSeverity, HealAction } from '@vigil/events';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/** What the notifier reacts to: liveness states that need action. */
export const CAUSES = ['unreachable', 'degraded'] as const;
export type Cause = (typeof CAUSES)[number];

const action = z.enum(['restart', 'reregister', 'failover']);
const severity = z.enum(['info', 'warning', 'critical']);
const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);

export const policySchema = z
  .object({
    heal: z
      .object({
        /** Cause -> heal action; a cause with no action (or null) is alerted at once. */
        actions: z
          .object({ unreachable: action.nullable().default('restart'), degraded: action.nullable().default('restart') })
          .strict()
          .default({}),
        maxAttempts: z.number().int().min(1).max(20).default(3),
        /** A heal whose result has not arrived by then counts as failed. */
        timeoutMs: z.number().int().min(100).default(10_000),
        /** After a heal reported success, how long the agent has to be healthy again before it counts as failed. */
        verifyMs: z.number().int().min(100).default(15_000),
        backoff: z
          .object({
            initialMs: z.number().int().min(0).default(1_000),
            factor: z.number().min(1).max(10).default(2),
            maxMs: z.number().int().min(0).default(30_000),
            /** Each delay is drawn from [d x (1 - jitter), d x (1 + jitter)], so a rack's heals do not retry in lockstep. */
            jitter: z.number().min(0).max(1).default(0.2),
          })
          .strict()
          .default({}),
      })
      .strict()
      .default({}),
    /** Webhook receivers: each gets every alert, as Alertmanager's webhook JSON (version 4). */
    receivers: z
      .array(
        z
          .object({
            name: z.string().regex(/^[^/]+$/, 'a receiver name is not empty and holds no slash'),
            url: z.string().url(),
            /** A request that takes longer failed (and is retried). */
            timeoutMs: z.number().int().min(100).default(5_000),
            /** Overrides delivery.maxAttempts for this receiver. */
            maxAttempts: z.number().int().min(1).optional(),
          })
          .strict(),
      )
      .default([])
      .refine((rs) => new Set(rs.map((r) => r.name)).size === rs.length, 'receiver names must be unique'),
    delivery: z
      .object({
        /** After this many failed sends a notification goes to vigil.alerts.dlq with the last error. */
        maxAttempts: z.number().int().min(1).default(20),
        backoff: z
          .object({
            initialMs: z.number().int().min(0).default(1_000),
            factor: z.number().min(1).max(10).default(2),
            maxMs: z.number().int().min(0).default(60_000),
            jitter: z.number().min(0).max(1).default(0.2),
          })
          .strict()
          .default({}),
        /** Requests in flight per receiver: a slow receiver holds only its own. */
        concurrencyPerReceiver: z.number().int().min(1).max(256).default(8),
        /** The `externalURL` of the payload: where a person finds the notifier (its /alerts). */
        externalUrl: z.string().default(''),
      })
      .strict()
      .default({}),
    /** Alerts on entity state, read from the state changelog (see StateRule). */
    stateRules: z
      .array(
        z
          .object({
            name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a rule name is an alert name: letters, digits, _'),
            entityType: z.string().min(1),
            field: z.string().min(1),
            equals: scalar.optional(),
            notEquals: scalar.optional(),
            in: z.array(scalar).optional(),
            greaterThan: z.number().optional(),
            lessThan: z.number().optional(),
            severity: severity.default('warning'),
          })
          .strict()
          .refine(
            (r) => ['equals', 'notEquals', 'in', 'greaterThan', 'lessThan'].filter((c) => c in r).length === 1,
            'a state rule needs exactly one condition: equals, notEquals, in, greaterThan or lessThan',
          ),
      )
      .default([])
      .refine((rs) => new Set(rs.map((r) => r.name)).size === rs.length, 'state rule names must be unique'),
    alerts: z
      .object({
        severity: z
          .object({ unreachable: severity.default('critical'), degraded: severity.default('warning') })
          .strict()
          .default({}),
      })
      .strict()
      .default({}),
  })
  .strict();

export type NotifierPolicy = z.infer<typeof policySchema>;
export type { AlertSeverity, HealAction };

export class PolicyError extends Error {}

/** The defaults, as a file with nothing in it would give. */
export const defaultPolicy = (): NotifierPolicy => policySchema.parse({});

/**
 * Reads and validates a policy file (YAML or JSON; JSON is YAML). A bad file is an error naming the
 * path, the field and the reason: the service refuses to start on it rather than guess.
 */
export function loadPolicy(path: string | undefined): NotifierPolicy {
  if (!path) return defaultPolicy();
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new PolicyError(`policy file ${path}: cannot read it: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (e) {
    throw new PolicyError(`policy file ${path}: not YAML or JSON: ${(e as Error).message.split('\n')[0]}`);
  }
  const parsed = policySchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.join('.') || '(top level)';
    throw new PolicyError(`policy file ${path}: field ${field}: ${issue.message}`);
  }
  return parsed.data;
}
