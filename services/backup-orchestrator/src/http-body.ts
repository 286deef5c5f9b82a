import { BadRequestException } from '@nestjs/common';
import type { z } from 'zod';

/** A request body parsed by `schema`, or a 400 naming the first bad field (`<what>: <field>: <why>`). */
export function parseBody<S extends z.ZodTypeAny>(schema: S, body: unknown, what: string): z.infer<S> {
  const parsed = schema.safeParse(body ?? {});
  if (parsed.success) return parsed.data as z.infer<S>;
  const issue = parsed.error.issues[0]!;
  throw new BadRequestException(`${what}: ${issue.path.join('.')}: ${issue.message}`);
}
