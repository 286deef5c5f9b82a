// Small disks under some agents' data directories, filled and freed on cue: the soak's "agent's disk
// fills up". A tmpfs per agent, mounted before the fleet starts (a mount over a directory an agent
// already has open would not reach its open files), so it needs root.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Each agent's disk: room for its journal's first segment writes, small enough to fill at once. */
const DISK_BYTES = 1024 * 1024;

export class AgentDisks {
  private readonly mounted: string[] = [];
  private readonly unused: string[];

  /**
   * Mounts a disk at `<fleetDataDir>/<agentId>` for each agent. Throws with the fix if this machine
   * cannot mount one (not root): the soak was asked for disk faults it cannot inject.
   */
  constructor(
    private readonly fleetDataDir: string,
    agentIds: string[],
  ) {
    this.unused = [...agentIds];
    for (const id of agentIds) {
      const dir = this.dirOf(id);
      mkdirSync(dir, { recursive: true });
      try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${DISK_BYTES}`, 'tmpfs', dir], { stdio: 'pipe' });
      } catch (e) {
        this.unmountAll();
        throw new Error(
          `cannot mount a small disk for agent ${id} (${(e as Error).message.split('\n')[0]}): run the soak as root, or without disk faults (--disk-fills 0)`,
        );
      }
      this.mounted.push(dir);
    }
  }

  /** The next agent whose disk has not been filled yet. */
  take(): string {
    const id = this.unused.shift();
    if (!id) throw new Error('no agent disk left to fill');
    return id;
  }

  /** Takes every byte left on the agent's disk. */
  fill(agentId: string): void {
    try {
      writeFileSync(this.fillerOf(agentId), Buffer.alloc(DISK_BYTES));
    } catch (e) {
      // What fit was written: the disk is full now, which is the point.
      if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
    }
  }

  free(agentId: string): void {
    rmSync(this.fillerOf(agentId), { force: true });
  }

  unmountAll(): void {
    for (const dir of this.mounted.splice(0)) {
      try {
        execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
      } catch {
        // Already gone (a reboot, or an operator): nothing to undo.
      }
    }
  }

  private dirOf(agentId: string): string {
    return path.join(this.fleetDataDir, agentId);
  }

  private fillerOf(agentId: string): string {
    return path.join(this.dirOf(agentId), 'filler');
  }
}
