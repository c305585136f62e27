import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RedisServer } from './redis-server.js';

/**
 * The `ACL SETUSER jwtd ...` line of docs/infrastructure.md, as the rules after the user name (`reset on >password
 * ...`), with `password` in place of the doc's placeholder. Read from the doc itself, so the tests check the line
 * operators copy. On Redis 7.2 and later `+client|setinfo` is appended, as the doc says (ioredis sends CLIENT SETINFO
 * on connect).
 */
export function aclRulesFromDoc(redisVersion: string, password: string): string[] {
  const doc = readFileSync(join(__dirname, '..', '..', 'docs', 'infrastructure.md'), 'utf8');
  const lines = doc.split('\n').filter((line) => line.startsWith('ACL SETUSER jwtd '));
  if (lines.length !== 1) throw new Error(`docs/infrastructure.md must hold exactly one "ACL SETUSER jwtd ..." line (found ${lines.length})`);
  const rules = lines[0].trim().split(/\s+/).slice(3).map((rule) => (rule.startsWith('>') ? `>${password}` : rule));
  if (!rules.some((rule) => rule === `>${password}`)) throw new Error('the ACL line of docs/infrastructure.md sets no password (">...")');
  const [major, minor] = redisVersion.split('.').map(Number);
  return major > 7 || (major === 7 && minor >= 2) ? [...rules, '+client|setinfo'] : rules;
}

/** The server's version (INFO server). */
export async function redisVersion(node: RedisServer): Promise<string> {
  const info = (await node.call('INFO', 'server')) as string;
  return /redis_version:([\d.]+)/.exec(info)![1];
}
