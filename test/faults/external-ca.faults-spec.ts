import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DEMO_BUILD_MAIN, startDemoProcess, type DemoProcess } from '../support/demo-process.js';
import { OidcProvider } from '../support/oidc-provider.js';

const execFileAsync = promisify(execFile);
const ROOT = join(__dirname, '../..');
const AUDIENCE = 'https://api.demo.example';

/**
 * The demo as operators run it (its own process) with a real OpenID provider behind a private CA: the contract says
 * the CA is trusted the Node way, `NODE_EXTRA_CA_CERTS` (read only when a process starts, hence a process here).
 */
describe('the built demo trusts a private CA through NODE_EXTRA_CA_CERTS for its external issuer', () => {
  let op: OidcProvider;
  const demos: DemoProcess[] = [];
  beforeAll(async () => {
    const built = execFileAsync('npx', ['nest', 'build', 'demo'], { cwd: ROOT });
    op = await OidcProvider.start({ audience: AUDIENCE, clientId: 'ca-client', clientSecret: 'ca-client-secret-0123456789abcdef' });
    await built;
  }, 120_000);
  afterAll(async () => {
    await Promise.all(demos.map((demo) => demo.stop()));
    await op?.stop();
  });

  const start = async (env: Record<string, string>) => {
    const demo = await startDemoProcess(join(ROOT, DEMO_BUILD_MAIN), { EXTERNAL_ISSUER: op.issuer, EXTERNAL_AUDIENCE: AUDIENCE, EXTERNAL_ROLES_CLAIM: 'realm_access.roles', ...env });
    demos.push(demo);
    return demo;
  };
  const me = async (demo: DemoProcess, token: string) => {
    const res = await fetch(`${demo.url}/me`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it("a provider token is accepted, with its roles claim, exp and jti on /me; without the CA, the provider's keys cannot be fetched", async () => {
    const token = (await op.clientCredentialsToken({ extraClaims: { realm_access: { roles: ['auditor'] } } })).access_token;
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as { exp: number; jti?: string };
    const trusted = await start({ NODE_EXTRA_CA_CERTS: op.caFile });
    const ok = await me(trusted, token);
    expect(ok).toEqual({ status: 200, body: expect.objectContaining({ sub: 'ca-client', iss: op.issuer, roles: ['auditor'], exp: claims.exp }) });
    if (claims.jti !== undefined) expect(ok.body.jti).toBe(claims.jti);

    const untrusted = await start({});
    const refused = await me(untrusted, token);
    expect({ status: refused.status, code: refused.body.code }).toEqual({ status: 503, code: 'issuer_unavailable' });
  }, 60_000);
});
