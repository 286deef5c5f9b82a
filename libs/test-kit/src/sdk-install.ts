// The agent SDK as an agent author outside this repo gets it: packed, then installed from the
// tarball into an empty project whose npm is pointed at a dead registry for the @vigil scope.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from './processes';

export interface InstalledSdk {
  tarball: string;
  /** The agent project: node_modules/@vigil/agent-sdk is installed there. */
  dir: string;
  /** npm's http log of the install: every registry request it made. */
  npmLog: string;
  installSeconds: number;
}

/** Packs the SDK (infra/pack-sdk.sh) and installs the tarball into a fresh temporary project. */
export function installSdkFromTarball(): InstalledSdk {
  const work = mkdtempSync(path.join(os.tmpdir(), 'vigil-sdk-'));
  const tarball = execFileSync('bash', [path.join(repoRoot, 'infra/pack-sdk.sh'), path.join(work, 'packages')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  const dir = path.join(work, 'my-agent');
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'my-agent', version: '1.0.0', private: true }));
  // Any lookup of a @vigil/* name would go here and fail: the install must not need one.
  writeFileSync(path.join(dir, '.npmrc'), '@vigil:registry=http://127.0.0.1:9/\n');
  const started = Date.now();
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=http', tarball], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 300000,
  });
  if (r.status !== 0) throw new Error(`npm install of ${tarball} failed: ${r.stderr.slice(-2000)}`);
  return { tarball, dir, npmLog: `${r.stdout}\n${r.stderr}`, installSeconds: (Date.now() - started) / 1000 };
}

/** Bytes and package count under a node_modules folder. */
export function installSize(nodeModules: string): { bytes: number; packages: number } {
  let bytes = 0;
  let packages = 0;
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        bytes += statSync(p).size;
        if (e.name === 'package.json' && path.basename(path.dirname(path.dirname(p))).match(/^(node_modules|@)/))
          packages += 1;
      }
    }
  };
  walk(nodeModules);
  return { bytes, packages };
}
