/** Alertmanager's label matcher: `name="value"`, `name!="value"`, `name=~"regex"`, `name!~"regex"`. */
export interface Matcher {
  name: string;
  value: string;
  isRegex: boolean;
  isEqual: boolean;
}

const MATCHER = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|([^"\s][^\s]*)?)\s*$/;

/** A matcher from its text form; a string saying why not when it is not one. */
export function parseMatcher(text: string): Matcher | string {
  const m = MATCHER.exec(text);
  if (!m) return `"${text}" is not a matcher (name="value", name!="value", name=~"regex" or name!~"regex")`;
  const [, name, op, quoted, bare] = m;
  const value = quoted !== undefined ? quoted.replace(/\\(.)/g, '$1') : (bare ?? '');
  const matcher = { name: name!, value, isRegex: op === '=~' || op === '!~', isEqual: op === '=' || op === '=~' };
  if (matcher.isRegex) {
    try {
      new RegExp(`^(?:${value})$`);
    } catch (e) {
      return `"${text}": bad regex: ${(e as Error).message}`;
    }
  }
  return matcher;
}

const compiled = new Map<string, RegExp>();
function regexOf(source: string): RegExp {
  let re = compiled.get(source);
  if (!re) {
    // Anchored, as in Alertmanager: `host=~"db"` does not match "db-2".
    re = new RegExp(`^(?:${source})$`);
    compiled.set(source, re);
  }
  return re;
}

/** A missing label matches as the empty string, as in Alertmanager (`team=""` means "no team"). */
export function matchesOne(m: Matcher, labels: Record<string, string>): boolean {
  const v = labels[m.name] ?? '';
  const hit = m.isRegex ? regexOf(m.value).test(v) : v === m.value;
  return m.isEqual ? hit : !hit;
}

/** All of them match (no matchers match everything). */
export const matchesAll = (ms: readonly Matcher[], labels: Record<string, string>) =>
  ms.every((m) => matchesOne(m, labels));

export const matcherText = (m: Matcher) =>
  `${m.name}${m.isEqual ? (m.isRegex ? '=~' : '=') : m.isRegex ? '!~' : '!='}"${m.value.replace(/(["\\])/g, '\\$1')}"`;
