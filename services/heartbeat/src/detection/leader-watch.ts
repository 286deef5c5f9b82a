/**
 * Tells which partitions changed leader since the last reading. A leader change means nobody could
 * append to the partition for a moment (a clean handover: the producers' retries after "not the
 * leader"; a broker's death: until the controller fenced it), so its agents' silence around it is
 * not theirs. A partition seen for the first time has no previous leader to differ from.
 */
export class LeaderWatch {
  private readonly leaders = new Map<number, number>();

  /** Records the reading; returns the partitions whose leader differs from the one before. */
  changed(leaders: Map<number, number>): number[] {
    const out: number[] = [];
    for (const [partition, leader] of leaders) {
      const before = this.leaders.get(partition);
      if (before !== undefined && before !== leader) out.push(partition);
      this.leaders.set(partition, leader);
    }
    return out;
  }
}
