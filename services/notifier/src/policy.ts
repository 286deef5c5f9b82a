import { readFileSync } from 'node:fs';
import type { AlertSeverity, HealAction } from '@vigil/events';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseDuration } from './routing/duration';
import { compileInhibitRules, DEFAULT_INHIBIT_RULES, type InhibitRuleInput } from './routing/inhibition';
import { parseMatcher } from './routing/matchers';
import { compileRoutes, RouteError, type RouteInput } from './routing/route-tree';

/** What the notifier reacts to: liveness states that need action. */
export const CAUSES = ['unreachable', 'degraded'] as const;
export type Cause = (typeof CAUSES)[number];

const action = z.enum(['restart', 'reregister', 'failover']);
const severity = z.enum(['info', 'warning', 'critical']);
const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const duration = z.union([z.string(), z.number()]).refine((d) => parseDuration(d) !== undefined, {
  message: 'not a duration (e.g. 500ms, 30s, 5m, 4h, or a number of ms)',
});
const matcherText = z.string().superRefine((t, ctx) => {
  const m = parseMatcher(t);
  if (typeof m === 'string') ctx.addIssue({ code: z.ZodIssueCode.custom, message: m });
});
const route: z.ZodType<RouteInput> = z.lazy(() =>
  z
    .object({
      receiver: z.string().optional(),
      group_by: z.array(z.string().min(1)).optional(),
      group_wait: duration.optional(),
      group_interval: duration.optional(),
      repeat_interval: duration.optional(),
      matchers: z.array(matcherText).optional(),
      continue: z.boolean().optional(),
      routes: z.array(route).optional(),
    })
    .strict(),
);
const inhibitRule: z.ZodType<InhibitRuleInput> = z
  .object({
    source_matchers: z.array(matcherText).min(1),
    target_matchers: z.array(matcherText).min(1),
    equal: z.array(z.string().min(1)).optional(),
    dependency: z.boolean().optional(),
  })
  .strict();

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
        /**
         * Before the first heal of an incident, ask the backup orchestrator for a backup of the agent
         * (policy `policyId`) and heal once its verdict is in, or after `waitMs` whatever it is.
         */
        preHealBackup: z
          .object({
            policyId: z.string().min(1),
            kind: z.enum(['full', 'incremental']).default('incremental'),
            waitMs: z.number().int().min(100).default(60_000),
          })
          .strict()
          .optional(),
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
    /**
     * Where notifications go. A `webhook` gets each group's notification as Alertmanager's webhook
     * JSON (version 4); an `alertmanager` (url: its base, e.g. http://am:9093) gets the group's alerts
     * pushed to its API v2 every group_interval, with an end time ahead so it resolves them if the
     * notifier stops pushing, and routes them itself.
     */
    receivers: z
      .array(
        z
          .object({
            name: z.string().regex(/^[^/]+$/, 'a receiver name is not empty and holds no slash'),
            kind: z.enum(['webhook', 'alertmanager']).default('webhook'),
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
    /**
     * Alertmanager's routing tree: matchers on alert labels choose a route, a route names its
     * receiver and how its alerts are grouped and paced. The root without a receiver sends to every
     * receiver. Defaults: group_by [host], group_wait 30s, group_interval 5m, repeat_interval 4h.
     */
    route: route.default({}),
    /** Alertmanager's inhibit rules (source, target, equal) plus `dependency`; absent: see DEFAULT_INHIBIT_RULES. */
    inhibit_rules: z.array(inhibitRule).default(DEFAULT_INHIBIT_RULES),
    /** HostDown{host} fires while at least `share` of a host's registered agents are unreachable. */
    hostDown: z
      .object({
        share: z.number().gt(0).max(1).default(0.8),
        /** A host with fewer registered agents never gets HostDown: its agent's own alert says it all. */
        minAgents: z.number().int().min(1).default(2),
        severity: severity.default('critical'),
      })
      .strict()
      .default({}),
    alerts: z
      .object({
        severity: z
          .object({
            unreachable: severity.default('critical'),
            degraded: severity.default('warning'),
            /** BackupFailed: the orchestrator's verdict on a backup was failed or timed out. */
            backup: severity.default('warning'),
          })
          .strict()
          .default({}),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((p, ctx) => {
    try {
      compileRoutes(
        p.route,
        p.receivers.map((r) => r.name),
      );
    } catch (e) {
      if (!(e instanceof RouteError)) throw e;
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['route', ...e.path], message: e.message });
    }
    try {
      compileInhibitRules(p.inhibit_rules);
    } catch (e) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['inhibit_rules'], message: (e as Error).message });
    }
  });

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
