import type { AgentMode, Fleet } from './fleet';

export const COMMANDS_HELP = `Commands (stdin, one per line, or --at "<seconds> <command>"):
  kill <n|ids...>              n random beating agents (or these ids) die silently
  revive <n|ids...>            killed/frozen/flapping agents restart (new boot id)
  freeze <n|ids...> <ms>       agents stall for ms, then beat again (same boot id)
  flap <n|ids...> <upMs> <downMs>   agents alternate beating and silence
  skew <n|ids...> <ms>         agents' clocks move by ms (e.g. 3600000)
  degrade <n|ids...> [check]   agents report a failed dependency check (default "db")
  heal <n|ids...>              degraded agents report all checks passing
  stop <n|ids...>              clean shutdown: a final "stopping" heartbeat, deregistered
  publish <n|ids...> <count>   agents publish count changes of their entity <id>/probe now; prints
                               which were accepted and why others were refused (e.g. a full disk)
  status                       print the counts
  quit                         stop every agent cleanly and exit`;

const DURATION = /^\d+$/;

/** Runs one command line against the fleet; returns false for quit, throws with a reason on bad input. */
export async function runCommand(fleet: Fleet, line: string, print: (o: object) => void): Promise<boolean> {
  const [cmd, ...args] = line.trim().split(/\s+/);
  if (!cmd) return true;
  const select = (tail: number, from: AgentMode[]) => {
    const selector = tail > 0 ? args.slice(0, -tail) : args;
    if (selector.length === 0) throw new Error(`${cmd}: which agents? a count or agent ids`);
    return fleet.pick(selector, from);
  };
  const number = (v: string | undefined, what: string) => {
    if (v === undefined || !DURATION.test(v))
      throw new Error(`${cmd}: ${what} must be a whole number, got "${v ?? ''}"`);
    return Number(v);
  };
  switch (cmd) {
    case 'kill':
      fleet.kill(select(0, ['beating']));
      return true;
    case 'revive':
      fleet.revive(select(0, ['killed', 'frozen', 'flapping']));
      return true;
    case 'freeze':
      fleet.freeze(select(1, ['beating']), number(args.at(-1), 'ms'));
      return true;
    case 'flap':
      fleet.flap(select(2, ['beating']), number(args.at(-2), 'upMs'), number(args.at(-1), 'downMs'));
      return true;
    case 'skew': {
      const ms = Number(args.at(-1));
      if (!Number.isInteger(ms)) throw new Error(`skew: ms must be an integer, got "${args.at(-1) ?? ''}"`);
      fleet.skew(select(1, ['beating', 'frozen', 'flapping']), ms);
      return true;
    }
    case 'degrade': {
      const named = args.length > 1 && !DURATION.test(args.at(-1)!) && /^\d+$/.test(args[0]!);
      fleet.degrade(select(named ? 1 : 0, ['beating']), named ? args.at(-1)! : 'db');
      return true;
    }
    case 'heal':
      fleet.heal(select(0, ['beating', 'frozen', 'flapping']));
      return true;
    case 'stop':
      await fleet.stop(select(0, ['beating', 'frozen', 'flapping']));
      return true;
    case 'publish':
      await fleet.publishNow(select(1, ['beating', 'killed', 'frozen', 'flapping']), number(args.at(-1), 'count'));
      return true;
    case 'status':
      print({ event: 'status', at: Date.now(), counts: fleet.counts(), stats: fleet.stats() });
      return true;
    case 'quit':
      return false;
    default:
      throw new Error(`unknown command "${cmd}"; try --help`);
  }
}
