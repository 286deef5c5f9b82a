/**
 * Splits a batch by a key, keeping the order of items within each key (and keys in first-seen
 * order): the usual first step of handling a consumed batch per shard, agent or entity. Linear,
 * unlike rebuilding an array per item.
 */
export function groupBy<T, K>(items: Iterable<T>, keyOf: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}
