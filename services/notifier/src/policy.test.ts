import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { defaultPolicy, loadPolicy } from './policy';

const dir = mkdtempSync(path.join(tmpdir(), 'vigil-policy-'));
const file = (name: string, text: string) => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('notifier policy file', () => {
  it('gives the defaults without a file, and fills what a file leaves out', () => {
    assert.equal(defaultPolicy().heal.maxAttempts, 3);
    assert.equal(defaultPolicy().heal.actions.unreachable, 'restart');
    const p = loadPolicy(file('partial.yaml', 'heal:\n  maxAttempts: 5\n'));
    assert.equal(p.heal.maxAttempts, 5);
    assert.equal(p.heal.timeoutMs, 10_000);
  });

  it('reads JSON as well as YAML', () => {
    assert.equal(loadPolicy(file('p.json', '{"heal": {"timeoutMs": 2500}}')).heal.timeoutMs, 2500);
  });

  it('names the file, the field and the reason of what is wrong', () => {
    const bad = file('bad.yaml', 'receivers:\n  - { name: ops, url: "not a url" }\n');
    assert.throws(
      () => loadPolicy(bad),
      new RegExp(`^Error: policy file ${bad}: field receivers\\.0\\.url: Invalid url`),
    );
    const unknown = file('unknown.yaml', 'heal:\n  retries: 3\n');
    assert.throws(() => loadPolicy(unknown), /field heal: Unrecognized key\(s\) in object: 'retries'/);
    assert.throws(() => loadPolicy(file('broken.yaml', 'heal: [\n')), /not YAML or JSON/);
    assert.throws(() => loadPolicy(path.join(dir, 'missing.yaml')), /missing\.yaml: cannot read it/);
  });
});
