// A real Prometheus Alertmanager of a test's or a bench's own, with the config it needs.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { waitUntil } from '@vigil/kafka/testing';
import { freePort, repoRoot, runScript, stopProcess } from './processes';

export interface RunningAlertmanager {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts Alertmanager (the binary infra/alertmanager.sh finds or installs) on a free port with
 * `configYaml`, clustering off and its data in a temporary directory; resolves once it is ready.
 */
export async function startAlertmanager(configYaml: string): Promise<RunningAlertmanager> {
  const found = runScript('infra/alertmanager.sh', ['bin'], process.env, 600_000);
  const bin = found.stdout.trim().split('\n').at(-1);
  if (found.code !== 0 || !bin) throw new Error(`no alertmanager binary: ${found.stderr.trim()}`);
  const dir = mkdtempSync(path.join(tmpdir(), 'vigil-am-'));
  writeFileSync(path.join(dir, 'alertmanager.yml'), configYaml);
  const port = await freePort();
  const child = spawn(
    bin,
    [
      `--config.file=${path.join(dir, 'alertmanager.yml')}`,
      `--storage.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--cluster.listen-address=',
      '--log.level=warn',
    ],
    { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitUntil(
    async () => {
      if (child.exitCode !== null) throw new Error(`alertmanager exited with ${child.exitCode}`);
      return (await fetch(`${url}/-/ready`).catch(() => undefined))?.ok === true;
    },
    30_000,
    'alertmanager ready',
  );
  return { url, child, stop: () => stopProcess(child) };
}
