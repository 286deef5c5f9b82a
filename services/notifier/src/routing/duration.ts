const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * Milliseconds from a duration as Alertmanager writes them (`30s`, `5m`, `1h30m`, `500ms`), or a plain
 * number of milliseconds. Undefined when it is neither, so the policy can name the field.
 */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  const text = value.trim();
  if (!/^(\d+(ms|s|m|h|d|w))+$/.test(text)) return undefined;
  let ms = 0;
  for (const [, n, unit] of text.matchAll(/(\d+)(ms|s|m|h|d|w)/g)) ms += Number(n) * UNITS[unit!]!;
  return ms;
}
