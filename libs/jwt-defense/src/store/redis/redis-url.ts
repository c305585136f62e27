// Checks of a Redis connection string, without ioredis (the main entry's option checks use them). Messages never
// repeat the string: it may hold a password.

const FORM = '[redis://][user:password@]host:port[/db] or rediss://... (TLS), or a unix socket path';
const ENCODED = 'a password holding @, :, / or # is percent-encoded, e.g. with encodeURIComponent';

function portProblem(port: number): string | undefined {
  return port >= 1 && port <= 65_535 ? undefined : `names a port that is not 1 to 65535: use ${FORM}`;
}

/** What is wrong with a Redis URL (ending in the forms accepted), or `undefined` when ioredis can use it. */
export function redisUrlProblem(url: string): string | undefined {
  if (url.startsWith('/') && !url.startsWith('//')) return undefined; // a unix socket path
  if (/^\d+$/.test(url)) return portProblem(Number(url)); // a bare port, as ioredis takes it
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url)?.[1];
  // Without a scheme, ioredis reads `host[:port][/db]` (and `//host...`) as a redis:// URL: so is it checked.
  if (scheme === undefined) return redisUrlProblem(`redis:${url.startsWith('//') ? '' : '//'}${url}`);
  if (!/^rediss?$/i.test(scheme)) return `has the scheme ${scheme.slice(0, 16)}://, not redis:// or rediss://: use ${FORM}`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `cannot be read as a URL (a port is 1 to 65535; ${ENCODED}): use ${FORM}`;
  }
  if (parsed.hostname === '') return `names no host (${ENCODED}): use ${FORM}`;
  if (!/^(\/\d*)?$/.test(parsed.pathname)) return `has a path that is not a database number: use ${FORM}`;
  try {
    decodeURIComponent(parsed.username);
    decodeURIComponent(parsed.password);
  } catch {
    return 'has a user or password with a broken percent-encoding (a % not followed by two hex digits): encode it with encodeURIComponent';
  }
  return undefined;
}
