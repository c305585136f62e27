import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { JwtDefenseModule, type JwtDefenseModuleOptions } from '@jwt-defense/core';
import { ADAPTERS } from './support/demo-app.js';
import { CapturedLogs } from './support/captured-logs.js';
import { OidcProvider, type OidcProviderOptions } from './support/oidc-provider.js';
import { fixtureOptions, startFixture } from './fixtures/fixture.app.js';
import { WhoamiController } from './fixtures/whoami.controller.js';

// A development provider on plain http on this machine (`issuers[].allowInsecureLoopback`), and the issuer
// misconfigurations whose boot log names the fix; each against a real oidc-provider.

const AUDIENCE = 'https://api.test';
const PROVIDER = { audience: AUDIENCE, clientId: 'svc', clientSecret: 'svc-secret-0123456789abcdef0123456789' };
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

const start = async (adapter: (typeof ADAPTERS)[number], issuers: JwtDefenseModuleOptions['issuers'], logs = new CapturedLogs()) =>
  startFixture(adapter, JwtDefenseModule.forRoot(fixtureOptions({ revocation: { cleanupCron: false }, issuers })), [WhoamiController], { logger: logs });
const whoami = (app: INestApplication, token: string) => request(app.getHttpServer()).get('/whoami').set('Authorization', `Bearer ${token}`);

/** What each test of a suite has: its provider, and its adapter's app whose warn and error lines are kept. */
interface Suite {
  op: OidcProvider;
  app: INestApplication;
  logs: CapturedLogs;
}

/** One provider for the suite (`provider`), and per adapter one app accepting `issuers(op)`. */
function suite(
  title: string,
  provider: Partial<OidcProviderOptions>,
  issuers: (op: OidcProvider) => JwtDefenseModuleOptions['issuers'],
  tests: (adapter: (typeof ADAPTERS)[number], s: Suite) => void,
): void {
  describe(title, () => {
    const s = {} as Suite;
    beforeAll(async () => {
      s.op = await OidcProvider.start({ ...PROVIDER, ...provider });
    }, 30_000);
    afterAll(() => s.op?.stop());

    describe.each(ADAPTERS)('over %s', (adapter) => {
      beforeAll(async () => {
        s.logs = new CapturedLogs();
        s.app = await start(adapter, issuers(s.op), s.logs);
      });
      afterAll(() => s.app?.close());
      tests(adapter, s);
    });
  });
}

suite(
  'an issuer on plain http on a loopback host',
  { http: true },
  (op) => [{ issuer: op.issuer, audience: AUDIENCE, allowInsecureLoopback: true }],
  (adapter, s) => {
    it('accepts its tokens with allowInsecureLoopback (keys discovered and fetched over http), with a boot warning naming the issuer', async () => {
      expect(s.op.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const { access_token: token } = await s.op.clientCredentialsToken();
      const res = await whoami(s.app, token);
      expect({ status: res.status, sub: res.body.sub, issuer: res.body.issuer }).toEqual({ status: 200, sub: 'svc', issuer: s.op.issuer });
      await s.logs.waitFor(new RegExp(`issuers\\[0\\]\\.allowInsecureLoopback: the keys of ${escape(s.op.issuer)} may be fetched over plain http .*for development only`));
    });

    it('refuses to boot without the option, naming it as the fix; on a host that is not loopback even with it; and under NODE_ENV=production', async () => {
      await expect(start(adapter, [{ issuer: s.op.issuer, audience: AUDIENCE }])).rejects.toThrow(
        /issuers\[0\]\.issuer must be an https URL \(a development provider on http on this machine needs issuers\[0\]\.allowInsecureLoopback: true\)/,
      );
      const elsewhere = s.op.issuer.replace('127.0.0.1', 'idp.example.com');
      await expect(start(adapter, [{ issuer: elsewhere, audience: AUDIENCE, allowInsecureLoopback: true }])).rejects.toThrow(
        /issuers\[0\]\.issuer is http on idp\.example\.com, not a loopback host: issuers\[0\]\.allowInsecureLoopback allows http on localhost, 127\.0\.0\.0\/8 and ::1 only/,
      );
      const before = process.env.NODE_ENV;
      process.env.NODE_ENV = 'production';
      try {
        await expect(start(adapter, [{ issuer: s.op.issuer, audience: AUDIENCE, allowInsecureLoopback: true }])).rejects.toThrow(
          /issuers\[0\]\.allowInsecureLoopback must not be true when NODE_ENV=production/,
        );
      } finally {
        process.env.NODE_ENV = before;
      }
    });

    it('refuses a discovered jwks_uri on http on a host that is not loopback: 503 issuer_unavailable, the log names the rule', async () => {
      await s.op.overrideDiscovery({ jwks_uri: 'http://192.0.2.1/jwks' });
      const elsewhere = new CapturedLogs();
      const other = await start(adapter, [{ issuer: s.op.issuer, audience: AUDIENCE, allowInsecureLoopback: true }], elsewhere);
      try {
        await elsewhere.waitFor(/jwks_uri is http on 192\.0\.2\.1, not a loopback host: issuers\[0\]\.allowInsecureLoopback allows http on localhost/);
        const res = await whoami(other, (await s.op.clientCredentialsToken()).access_token);
        expect({ status: res.status, code: res.body.code }).toEqual({ status: 503, code: 'issuer_unavailable' });
      } finally {
        await other.close();
        await s.op.overrideDiscovery({});
      }
    });
  },
);

suite(
  'an issuer whose boot log names the fix',
  {},
  // issuers[0]: the trailing-slash mix-up (its discovery says the issuer without it); issuers[1]: the provider's
  // certificate is signed by a private CA the module is not given.
  (op) => [{ issuer: `${op.issuer}/`, audience: AUDIENCE, ca: op.caPem }, { issuer: op.issuer, audience: AUDIENCE }],
  (_adapter, s) => {
    it('an issuer whose discovery names another prints both, and says it must equal the tokens\' iss exactly; its tokens get 503 issuer_unavailable', async () => {
      await s.logs.waitFor(
        new RegExp(`names the issuer "${escape(s.op.issuer)}", but issuers\\[0\\]\\.issuer is "${escape(s.op.issuer)}/": issuers\\[0\\]\\.issuer must equal its tokens' \`iss\` exactly`),
      );
      const now = Math.floor(Date.now() / 1000);
      const res = await whoami(s.app, s.op.signArbitraryToken({ iss: `${s.op.issuer}/`, aud: AUDIENCE, sub: 'svc', iat: now, exp: now + 60 }));
      expect({ status: res.status, code: res.body.code }).toEqual({ status: 503, code: 'issuer_unavailable' });
    });

    it('an issuer whose certificate is not trusted names issuers[i].ca and NODE_EXTRA_CA_CERTS; its tokens get 503 issuer_unavailable', async () => {
      const line = await s.logs.waitFor(/the TLS certificate of 127\.0\.0\.1:\d+ is not trusted/);
      expect(line).toMatch(/give the CA that signs it \(PEM\) as issuers\[1\]\.ca, or to the whole process with NODE_EXTRA_CA_CERTS/);
      const res = await whoami(s.app, (await s.op.clientCredentialsToken()).access_token);
      expect({ status: res.status, code: res.body.code }).toEqual({ status: 503, code: 'issuer_unavailable' });
    });
  },
);
