import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';

/**
 * Everything a restore must reproduce of a tree, by relative path: type, permission bits, content
 * hash or link target, and (unless told not to) mtime to the millisecond. Two trees are the same
 * when their snapshots are deep-equal.
 */
export function treeSnapshot(root: string, options: { mtimes?: boolean } = {}): Record<string, string> {
  const out: Record<string, string> = {};
  const at = (ms: number) => (options.mtimes === false ? '' : ` @${Math.round(ms)}`);
  const visit = (p: string, rel: string) => {
    const s = lstatSync(p);
    if (s.isSymbolicLink()) out[rel] = `symlink -> ${readlinkSync(p)}${at(s.mtimeMs)}`;
    else if (s.isDirectory()) {
      out[rel] = `dir ${(s.mode & 0o7777).toString(8)}${at(s.mtimeMs)}`;
      for (const name of readdirSync(p).sort()) visit(path.join(p, name), path.join(rel, name));
    } else {
      const sha = createHash('sha256').update(readFileSync(p)).digest('hex');
      out[rel] = `file ${(s.mode & 0o7777).toString(8)} ${sha}${at(s.mtimeMs)}`;
    }
  };
  visit(root, '.');
  return out;
}
