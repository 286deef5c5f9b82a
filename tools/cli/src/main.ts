#!/usr/bin/env node
// vigil: the operator's command line over a running Vigil. Thin: each command asks the services'
// HTTP APIs (or Kafka, for dead letters) and renders the answer as a table or as JSON.
import { Command, Option } from 'commander';
import { alerts, silenceAdd, silenceExpire, silences } from './commands/alerts';
import { backups, restorePlan } from './commands/backups';
import { dlqPeek, dlqReplay } from './commands/dlq';
import { agent, agents, entity, status } from './commands/fleet';
import { trace } from './commands/trace';
import { watch } from './commands/watch';
import { ENDPOINT_VARIABLES, endpointsFromEnv } from './endpoints';
import type { Context, Output } from './output';

const environment = [
  '',
  'Environment (defaults are the local demo, bash infra/start.sh):',
  ...ENDPOINT_VARIABLES.map(([, name, fallback, what]) => `  ${name.padEnd(22)} ${what} (${fallback})`),
  '  KAFKA_BROKERS          for dlq (127.0.0.1:9092); KAFKA_SASL_*, KAFKA_TLS* as for the services',
  '  SCHEMA_REGISTRY_URL    for dlq (http://127.0.0.1:8081/apis/ccompat/v7); SCHEMA_REGISTRY_USERNAME/_PASSWORD',
  '',
  'Exit status: 0 on success, 1 when the answer shows trouble (a service not ready, a plan that',
  'cannot run) or a service refuses the request, 2 on bad usage or configuration.',
].join('\n');

const program = new Command('vigil')
  .description(
    'Look at a running Vigil fleet and act on it: liveness, alerts, silences, backups, restores, traces, dead letters.',
  )
  .option('--json', 'print JSON for scripts instead of tables')
  .addHelpText('after', environment)
  .showHelpAfterError('(vigil --help lists the commands)')
  .exitOverride();

/** Runs one command: its output as JSON or text, its exit status, errors as one line on stderr. */
function run<A extends unknown[]>(action: (ctx: Context, ...args: A) => Promise<Output>) {
  return async (...args: A) => {
    let ctx: Context;
    try {
      ctx = { endpoints: endpointsFromEnv(), now: Date.now };
    } catch (e) {
      process.stderr.write(`vigil: ${(e as Error).message}\n`);
      process.exit(2);
    }
    const out = await action(ctx, ...args);
    process.stdout.write(program.opts().json ? `${JSON.stringify(out.data, null, 2)}\n` : `${out.text}\n`);
    process.exitCode = out.exitCode ?? 0;
  };
}

const list = (v: string, acc: string[] = []) => [...acc, v];

program
  .command('status')
  .description('each service ready or not, the fleet by state, open alerts')
  .action(run((ctx) => status(ctx)));

program
  .command('agents')
  .description('the fleet: one row per agent, worst states first with --state')
  .option('--state <states>', 'only these states, comma-separated (unreachable,suspect,degraded,starting,healthy)')
  .option('--prefix <prefix>', 'only agent ids starting with it')
  .option('--limit <n>', 'at most n rows (the service default: 1000)')
  .action(run((ctx, o: { state?: string; prefix?: string; limit?: string }) => agents(ctx, o)));

program
  .command('agent <id>')
  .description('one agent as every service knows it: liveness, heals, alerts, backups, entities')
  .action(run((ctx, id: string) => agent(ctx, id)));

program
  .command('entity <id>')
  .description("an entity's current state in state-sync")
  .action(run((ctx, id: string) => entity(ctx, id)));

program
  .command('alerts')
  .description('open alerts, newest first, with what mutes them')
  .option('--filter <matcher>', 'Alertmanager matcher, repeatable (severity=critical, host=~"web.*")', list)
  .option('--agent <id>', 'only this agent')
  .option('--active', 'hide silenced and inhibited alerts')
  .action(run((ctx, o: { filter?: string[]; agent?: string; active?: boolean }) => alerts(ctx, o)));

const silence = program.command('silence').description('silences: list, add, expire');
silence
  .command('ls')
  .description('every silence, newest first')
  .action(run((ctx) => silences(ctx)));
silence
  .command('add <matchers...>')
  .description('mute alerts matching all matchers (alertname=AgentUnreachable host=web-1)')
  .addOption(new Option('--duration <d>', 'how long, e.g. 30m, 2h').default('1h'))
  .requiredOption('--comment <why>', 'why (shown with the silence)')
  .addOption(new Option('--author <who>', 'who sets it').default(process.env.USER ?? 'vigil-cli'))
  .action(run((ctx, m: string[], o: { duration: string; comment: string; author: string }) => silenceAdd(ctx, m, o)));
silence
  .command('expire <id>')
  .description('end a silence now')
  .action(run((ctx, id: string) => silenceExpire(ctx, id)));

program
  .command('backups <agent>')
  .description("the agent's kept (verified) backups, newest first")
  .action(run((ctx, id: string) => backups(ctx, id)));

program
  .command('restore-plan [agents...]')
  .description('plan a restore in dependency and tier order, with estimates; a dry run unless --run')
  .option('--selector <label=value>', 'also agents with this label, repeatable', list)
  .option('--target-dir <dir>', 'restore below this directory instead of in place')
  .option('--run', 'run the plan now')
  .action(
    run((ctx, a: string[], o: { selector?: string[]; targetDir?: string; run?: boolean }) => restorePlan(ctx, a, o)),
  );

program
  .command('trace <id>')
  .description('the newest trace of an event id, entity id or agent id: its trace id and UI link')
  .option('--lookback-h <hours>', 'how far back to look', '24')
  .action(run((ctx, id: string, o: { lookbackH?: string }) => trace(ctx, id, o)));

program
  .command('dlq <topic>')
  .description("a topic's dead letters (peek); --replay republishes them after a fix, where that is safe")
  .option('--limit <n>', 'peek at the newest n', '20')
  .option('--replay', 'republish the letters not replayed yet to the source topic (state changes only)')
  .action(
    run((ctx, topic: string, o: { limit?: string; replay?: boolean }) =>
      o.replay ? dlqReplay(ctx, topic, (l) => process.stderr.write(`${l}\n`)) : dlqPeek(ctx, topic, o),
    ),
  );

program
  .command('watch')
  .description('the fleet live: a status table refreshed in place, counts by state, an event feed (Ctrl-C ends)')
  .option('--interval-ms <ms>', 'refresh period', '1000')
  .option('--rows <n>', 'agents shown (worst states first)', '15')
  .option('--prefix <prefix>', 'only agent ids starting with it')
  .option('--once', 'render one frame and exit (for scripts and tests)')
  .option('--links-file <file>', 'lines to show below each frame instead of the default hints')
  .action(async (o: { intervalMs: string; rows: string; prefix?: string; once?: boolean; linksFile?: string }) => {
    process.exitCode = await watch({ endpoints: endpointsFromEnv(), now: Date.now }, o);
  });

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    const code = (e as { code?: string; exitCode?: number }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') return;
    if (code?.startsWith('commander.')) {
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`vigil: ${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}

void main();
