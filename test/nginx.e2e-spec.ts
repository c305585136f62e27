import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import request from 'supertest';
import { ADAPTERS, startDemo, type DemoHandle } from './support/demo-app.js';
import { EDGE_HOST, NGINX_CONF, NginxEdge, renderNginxConf, type EdgeRequest, type EdgeResponse } from './support/nginx.js';
import { createDpopProof } from './support/oidc-provider.js';
import { freePort } from './support/redis-server.js';

// Layer 7 at the edge: the committed nginx config (docs/infrastructure/nginx.conf), run by a real nginx on loopback
// in front of the real demo. Clients use several loopback source addresses (127.0.0.2, .3...) so that the client
// address nginx sees differs from nginx's own (127.0.0.1, the one TRUST_PROXY names).

const b64 = (text: string) => Buffer.from(text).toString('base64url');
const bearer = (length: number) => `Bearer ${'a'.repeat(length - 'Bearer '.length)}`;
const count = (res: EdgeResponse, name: string) => res.rawHeaders.filter((_, i) => i % 2 === 0 && res.rawHeaders[i].toLowerCase() === name).length;
const HSTS = 'max-age=31536000; includeSubDomains';

describe('the committed nginx config', () => {
  it('passes `nginx -t` once its deployment values are replaced by the test\'s', async () => {
    const edge = NginxEdge.prepare(await freePort(), await freePort());
    try {
      const { status, output } = edge.test();
      expect({ status, output }).toEqual({ status: 0, output: expect.stringContaining('test is successful') });
    } finally {
      await edge.destroy();
    }
  });

  it('is what docs/infrastructure.md quotes: every nginx block of the doc is a run of lines of the file', () => {
    const conf = readFileSync(NGINX_CONF, 'utf8').split('\n').map((line) => line.trim());
    const doc = readFileSync(join(__dirname, '..', 'docs', 'infrastructure.md'), 'utf8');
    const blocks = [...doc.matchAll(/```nginx\n([\s\S]*?)```/g)].map((match) => match[1].trimEnd().split('\n').map((line) => line.trim()));
    expect(blocks.length).toBeGreaterThanOrEqual(4);
    const missing = blocks.filter((block) => !conf.some((_, start) => block.every((line, i) => conf[start + i] === line)));
    expect(missing).toEqual([]);
  });

  it('refuses to render when a deployment value it replaces is gone', () => {
    const source = readFileSync(NGINX_CONF, 'utf8');
    const values = { port: 1, upstreamPort: 2, dir: '/tmp/x', certFile: '/tmp/x/c', keyFile: '/tmp/x/k' };
    expect(() => renderNginxConf(source.replace('server 10.0.1.10:3000;', 'server 10.0.1.11:3000;'), values)).toThrow(/server 10\.0\.1\.10:3000/);
    expect(() => renderNginxConf(`${source}\n# ok in a comment: /var/lib/x\nworker_rlimit_core 1; error_log /var/tmp/e.log;\n`, values)).toThrow(/\/var\//);
  });
});

describe.each(ADAPTERS)('nginx in front of the demo (%s)', (adapter) => {
  let demo: DemoHandle;
  let edge: NginxEdge;
  let edgePort: number;
  /** Requests the app's HTTP server received: an edge rejection must leave it unchanged. */
  let reached = 0;

  beforeAll(async () => {
    edgePort = await freePort();
    demo = await startDemo(adapter, {
      TRUST_PROXY: '127.0.0.1/32',
      TRUST_PROXY_HEADER: 'x-forwarded-for',
      LOGIN_LIMIT: '2',
      // Behind a TLS-terminating proxy the app must be told its public URL for DPoP's htu (docs/infrastructure.md).
      PUBLIC_URL: `https://${EDGE_HOST}:${edgePort}`,
    });
    await demo.app.listen(0, '127.0.0.1');
    demo.server.on('request', () => reached++);
    edge = NginxEdge.prepare(edgePort, (demo.server.address() as AddressInfo).port);
    await edge.start();
  }, 30_000);

  afterAll(async () => {
    await edge?.destroy();
    await demo?.close();
  });

  const via = (req: EdgeRequest) => edge.request(req);
  const login = (username: string, password: string, localAddress: string, headers: Record<string, string> = {}) =>
    via({ method: 'POST', path: '/auth/login', localAddress, headers, body: JSON.stringify({ username, password }) });
  /** The access-log lines of requests nginx answered itself, without contacting the app. */
  const answeredAtEdge = () => edge.accessLog().filter((line) => line.includes(' upstream=-'));
  const expectEdgeLines = async (expected: number) => {
    // nginx logs a request after answering it: give its log a moment.
    for (let i = 0; i < 40 && answeredAtEdge().length < expected; i++) await new Promise((resolve) => setTimeout(resolve, 25));
    expect(answeredAtEdge()).toHaveLength(expected);
  };

  it('the app counts a client by the address nginx saw: a forged X-Forwarded-For never gives it a new budget', async () => {
    for (const client of ['127.0.0.2', '127.0.0.1']) {
      const before = reached;
      const answers: Array<[number, unknown]> = [];
      for (let i = 0; i < 3; i++) {
        const forged = `203.0.113.${i + 1}`;
        // Another username each time: only the per-client LOGIN_LIMIT (2) can refuse the third attempt.
        const res = await login(`nobody-${client}-${i}`, 'wrong-password', client, { 'X-Forwarded-For': forged, 'X-Real-IP': forged, Forwarded: `for=${forged}` });
        answers.push([res.status, res.json?.code]);
      }
      expect(answers).toEqual([
        [401, 'invalid_credentials'],
        [401, 'invalid_credentials'],
        [429, 'rate_limited'],
      ]);
      // All three reached the app: the 429 is its LOGIN_LIMIT, not nginx's limit_req.
      expect(reached - before).toBe(3);
    }
    // Another client address has its own budget: the app does not lump every client under nginx's address.
    const admin = await login('admin', 'admin-password', '127.0.0.3');
    expect(admin.status).toBe(200);
    const events = await via({
      path: '/admin/security-events?limit=1000',
      localAddress: '127.0.0.3',
      headers: { authorization: `Bearer ${admin.json!.access_token as string}` },
    });
    expect(events.status).toBe(200);
    const list = (events.json as { events: Array<{ type: string; ip?: string }> }).events;
    // 127.0.0.2 reached the app only in X-Forwarded-For (its socket peer is nginx, 127.0.0.1): the header nginx set.
    expect(list.filter((event) => event.type === 'rate_limited').map((event) => event.ip).sort()).toEqual(['127.0.0.1', '127.0.0.2']);
    expect(list.filter((event) => event.ip?.startsWith('203.0.113.'))).toEqual([]);
  });

  it('an oversized Authorization header is refused by nginx, never reaching the app', async () => {
    const before = reached;
    const edgeLines = answeredAtEdge().length;
    // Over the app's cap (token.maxTokenBytes 8192 + "Bearer "): the app's own answer, from the edge.
    const capped = await via({ path: '/me', headers: { authorization: bearer(8200) } });
    expect([capped.status, capped.json?.code]).toEqual([401, 'token_malformed']);
    expect(capped.headers['www-authenticate']).toBe('Bearer realm="api", error="invalid_token"');
    // Over nginx's header buffer (16 KB): nginx's own refusal (494), answered as 431.
    const huge = await via({ path: '/me', headers: { authorization: bearer(20_000) } });
    expect([huge.status, huge.json?.code]).toEqual([431, 'request_error']);
    for (const res of [capped, huge]) {
      expect(count(res, 'strict-transport-security')).toBe(1);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['cache-control']).toBe('no-store');
    }
    expect(reached).toBe(before);
    await expectEdgeLines(edgeLines + 2);

    // The app answers the same to the capped header, and the edge lets the longest one the app may accept through.
    const direct = await request(demo.server).get('/me').set('Authorization', bearer(8200));
    expect([direct.status, direct.body.code]).toEqual([capped.status, capped.json?.code]);
    const longest = await via({ path: '/me', headers: { authorization: bearer(8199) } });
    expect(longest.status).toBe(401);
    expect(reached).toBe(before + 2);
  });

  it('alg "none" tokens are dropped at the edge in the spellings its rule lists, wherever "alg" stands in the header', async () => {
    const before = reached;
    const edgeLines = answeredAtEdge().length;
    const payload = b64('{"sub":"alice","iss":"jwt-defense-demo","aud":"jwt-defense-demo"}');
    // The member before "alg" puts it at each offset modulo 3 (base64url encodes 3 bytes as 4 characters).
    const prefixes = ['{', '{"x":"",', '{"x":"a",', '{"x":"ab",'];
    const schemes = ['Bearer', 'bearer', 'DPoP'];
    const tokens: string[] = [];
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      for (const colon of [':', ': ']) for (const prefix of prefixes) tokens.push(`${b64(`${prefix}"alg"${colon}"${alg}","typ":"at+jwt"}`)}.${payload}.`);
    }
    const answers = await Promise.all(tokens.map((token, i) => via({ path: '/me', headers: { authorization: `${schemes[i % 3]} ${token}` } })));
    expect(new Set(answers.map((res) => `${res.status} ${res.json?.code}`))).toEqual(new Set(['401 algorithm_not_allowed']));
    expect(reached).toBe(before);
    await expectEdgeLines(edgeLines + tokens.length);
    expect(edge.accessLog().filter((line) => line.endsWith('edge_reject=alg_none'))).toHaveLength(tokens.length);

    // The app gives the same answer; and it, not the edge, is the authority: spellings outside the rule reach it and
    // are refused there.
    const direct = await request(demo.server).get('/me').set('Authorization', `Bearer ${tokens[0]}`);
    expect([direct.status, direct.body.code]).toEqual([401, 'algorithm_not_allowed']);
    for (const header of ['{"alg" : "none"}', '{"alg":"NoNe"}']) {
      const res = await via({ path: '/me', headers: { authorization: `Bearer ${b64(header)}.${payload}.` } });
      expect([res.status, res.json?.code]).toEqual([401, 'algorithm_not_allowed']);
    }
    expect(reached).toBe(before + 3);
  });

  it('a token in the query string, and a second Authorization header, are refused at the edge', async () => {
    const before = reached;
    const edgeLines = answeredAtEdge().length;
    const paths = ['/me?access_token=abc', '/me?a=1&access_token=', '/me?access%5Ftoken=abc', '/me?access%5ftoken', '/me?access_token', '/health?access_token=x'];
    const answers = await Promise.all(paths.map((path) => via({ path })));
    expect(answers.map((res) => [res.status, res.json?.code])).toEqual(paths.map(() => [400, 'invalid_request']));
    const twice = await via({ path: '/me', headers: { authorization: ['Bearer a.b.c', 'Bearer d.e.f'] } });
    expect([twice.status, twice.json?.code]).toEqual([400, 'invalid_request']);
    expect(reached).toBe(before);
    await expectEdgeLines(edgeLines + paths.length + 1);
    // Nothing of a token in the URL lands in nginx's log (its format has $uri, never $request or $args).
    expect(edge.accessLog().filter((line) => line.includes('access_token') || line.includes('access%5'))).toEqual([]);

    // A parameter that merely ends in access_token is not a token: it reaches the app.
    const other = await via({ path: '/me?my_access_token=1' });
    expect([other.status, other.json?.code]).toEqual([401, 'token_missing']);
    expect(reached).toBe(before + 1);
  });

  it('login and /me work through the edge, with the app\'s security headers and one HSTS, the edge\'s', async () => {
    const loggedIn = await login('alice', 'alice-password', '127.0.0.4', { 'CF-IPCountry': 'FR' });
    expect([loggedIn.status, loggedIn.json?.token_type]).toEqual([200, 'Bearer']);
    const token = loggedIn.json!.access_token as string;
    // A client's own country header is removed by the edge (no CDN in front): a "new country" cannot be faked in.
    const res = await via({ path: '/me', localAddress: '127.0.0.4', headers: { authorization: `Bearer ${token}`, 'CF-IPCountry': 'KP' } });
    expect([res.status, res.json?.sub]).toEqual([200, 'alice']);
    expect(res.headers['strict-transport-security']).toBe(HSTS);
    expect(res.headers['server']).toBe('nginx');
    expect(res.headers['x-powered-by']).toBeUndefined();
    expect(res.headers['cache-control']).toContain('no-store');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    for (const name of ['strict-transport-security', 'x-content-type-options', 'x-frame-options', 'content-security-policy', 'cache-control']) {
      expect([name, count(res, name)]).toEqual([name, 1]);
    }
    // The same header from a trusted peer, straight to the app, IS believed, and the new country asks for a step-up:
    // so the 200 above is the edge's doing.
    const direct = () => request(demo.server).get('/me').set('Authorization', `Bearer ${token}`);
    expect((await direct()).status).toBe(200);
    const fromKp = await direct().set('CF-IPCountry', 'KP');
    expect([fromKp.status, fromKp.body.code]).toEqual([401, 'insufficient_user_authentication']);
  });

  it('DPoP-bound tokens work through the edge once the app knows its public URL', async () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const htu = (path: string) => `https://${EDGE_HOST}:${edgePort}${path}`;
    const loggedIn = await via({
      method: 'POST',
      path: '/auth/login',
      localAddress: '127.0.0.5',
      headers: { DPoP: createDpopProof(key, { htm: 'POST', htu: htu('/auth/login') }) },
      body: JSON.stringify({ username: 'admin', password: 'admin-password' }),
    });
    expect([loggedIn.status, loggedIn.json?.token_type]).toEqual([200, 'DPoP']);
    const token = loggedIn.json!.access_token as string;
    const res = await via({
      path: '/me',
      localAddress: '127.0.0.5',
      headers: { authorization: `DPoP ${token}`, DPoP: createDpopProof(key, { htm: 'GET', htu: htu('/me'), accessToken: token }) },
    });
    expect([res.status, res.json?.sub]).toEqual([200, 'admin']);
  });

  it('a flood from one client meets nginx\'s limit_req/limit_conn (429), and only what passes reaches the app', async () => {
    const before = reached;
    const answers = await Promise.all(Array.from({ length: 80 }, () => via({ path: '/health', localAddress: '127.0.0.6' })));
    const passed = answers.filter((res) => res.status === 200).length;
    const limited = answers.filter((res) => res.status === 429);
    expect(passed + limited.length).toBe(80);
    expect(limited.length).toBeGreaterThanOrEqual(20);
    expect(new Set(limited.map((res) => `${res.json?.code} ${res.headers['retry-after']}`))).toEqual(new Set(['rate_limited 1']));
    expect(reached - before).toBe(passed);
  });
});
