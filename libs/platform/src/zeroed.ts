import type { Counter } from 'prom-client';

/**
 * Starts each of these label sets at 0. A labelled counter is otherwise absent until its first
 * increment, and Prometheus' rate() and increase() then miss that increment (a series has to exist
 * before it grows): the first failed backup or heal would not show on a dashboard.
 */
export function zeroed<L extends string>(
  counter: Counter<L>,
  labelSets: Array<Partial<Record<L, string>>>,
): Counter<L> {
  for (const labels of labelSets) counter.inc(labels, 0);
  return counter;
}
