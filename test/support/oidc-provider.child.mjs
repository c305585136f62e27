// Child process of test/support/oidc-provider.ts: runs the real, ESM-only `oidc-provider` over HTTPS on a
// loopback port. Plain ESM JavaScript on purpose: Jest (CommonJS mode) never loads it; the parent forks it
// with `node` and talks to it over the IPC channel.
//
// Messages from the parent: { id, type: 'init', config, jwks, currentKids } once, then { id, type: 'keys', jwks, currentKids },
// { id, type: 'discovery', members }, { id, type: 'stats' } and { id, type: 'stop' }. With `config.http` it serves
// plain http (a development provider) instead of https. Every message is answered with { id, ok, result?, error? }.
//
// Besides the client-credentials client, a web client (`config.web`) logs users in through the authorization
// endpoint, so tests get real OpenID ID tokens: GET /interaction/<uid> (this file's, not the provider's) logs in the
// account named by the request's `login_hint` and consents to what was asked, with no page.
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:https';
import { Provider } from 'oidc-provider';

/** Request header through which a test asks for extra (non-reserved) claims in one access token. */
const EXTRA_CLAIMS_HEADER = 'x-test-extra-claims';

let config;
let server;
let provider;
let handler;
let jwksRequests = 0;
/** Members the discovery document says over the provider's own (`discovery` message). */
let discoveryMembers = {};

function buildProvider(issuer, jwks, currentKids) {
  const scope = config.scopes.join(' ');
  const op = new Provider(issuer, {
    clients: [
      {
        client_id: config.clientId,
        client_secret: config.clientSecret,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
        // The default (RS256) would be refused as client metadata when the provider has no RSA key.
        id_token_signed_response_alg: config.accessTokenAlg,
        scope,
      },
      {
        client_id: config.web.clientId,
        client_secret: config.web.clientSecret,
        grant_types: ['authorization_code', 'implicit'],
        response_types: ['code', 'id_token', 'code id_token', 'id_token token'],
        redirect_uris: [config.web.redirectUri],
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: config.accessTokenAlg,
        scope: `openid ${scope}`,
      },
    ],
    findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    jwks: { keys: jwks },
    scopes: config.scopes,
    cookies: { keys: [config.cookieKey] },
    ttl: { ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? config.accessTokenTtlSec },
    // Logins of the web client go through this file's /interaction route (no pages).
    responseTypes: ['code', 'id_token', 'code id_token', 'id_token token'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: false },
      revocation: { enabled: false },
      dPoP: {
        enabled: true,
        ...(config.dpopNonce
          ? { nonceSecret: Buffer.from(config.dpopNonceSecret, 'base64'), requireNonce: () => true }
          : {}),
      },
      resourceIndicators: {
        enabled: true,
        // A token request without `resource` gets a token for the configured audience (a JWT), not an
        // opaque userinfo-only token.
        defaultResource: () => config.audience,
        useGrantedResource: () => true,
        // Any absolute URI is accepted as a resource indicator and becomes the token's `aud`, so a test can
        // mint a provider-signed token for some other API.
        getResourceServerInfo: (_ctx, resourceIndicator) => ({
          scope,
          audience: resourceIndicator,
          accessTokenTTL: config.accessTokenTtlSec,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: config.accessTokenAlg, kid: currentKids[config.accessTokenAlg] } },
        }),
      },
    },
    enabledJWA: {
      dPoPSigningAlgValues: ['ES256', 'EdDSA', 'Ed25519', 'RS256', 'PS256'],
    },
    extraTokenClaims: (ctx) => {
      const raw = ctx.get(EXTRA_CLAIMS_HEADER);
      return raw ? JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) : undefined;
    },
  });
  op.use(async (ctx, next) => {
    if (ctx.method === 'GET' && ctx.path === '/jwks') jwksRequests += 1;
    await next();
    if (ctx.path === '/.well-known/openid-configuration' && ctx.body && typeof ctx.body === 'object') ctx.body = { ...ctx.body, ...discoveryMembers };
  });
  // Surface provider errors (a broken config shows up as a 500 to the test otherwise).
  op.on('server_error', (_ctx, err) => process.stderr.write(`oidc-provider server_error: ${err?.stack ?? err}\n`));
  return op;
}

/** Logs in `login_hint` (default `user-1`) and grants what the authorization request asked for. */
async function finishInteraction(req, res) {
  const { params } = await provider.interactionDetails(req, res);
  const accountId = params.login_hint ?? 'user-1';
  const grant = new provider.Grant({ accountId, clientId: params.client_id });
  grant.addOIDCScope(params.scope);
  if (params.resource) grant.addResourceScope(params.resource, config.scopes.join(' '));
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { login: { accountId }, consent: { grantId } }, { mergeWithLastSubmission: false });
}

function use(op) {
  provider = op;
  handler = op.callback();
}

async function init(message) {
  config = message.config;
  // The provider is swapped on key rotation (its keystore is fixed at construction); the server stays.
  const listener = (req, res) => {
    if (req.method === 'GET' && req.url.startsWith('/interaction/')) {
      finishInteraction(req, res).catch((err) => {
        process.stderr.write(`interaction failed: ${err?.stack ?? err}\n`);
        res.statusCode = 500;
        res.end();
      });
    } else handler(req, res);
  };
  server = config.http ? createHttpServer(listener) : createServer({ key: readFileSync(config.keyFile), cert: readFileSync(config.certFile) }, listener);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  const issuer = `${config.http ? 'http' : 'https'}://127.0.0.1:${port}`;
  use(buildProvider(issuer, message.jwks, message.currentKids));
  return { port, issuer };
}

async function stop() {
  if (!server) return undefined;
  server.closeAllConnections();
  await new Promise((resolve) => server.close(() => resolve()));
  return undefined;
}

const handlers = {
  init,
  keys: (message) => {
    use(buildProvider(provider.issuer, message.jwks, message.currentKids));
    return undefined;
  },
  discovery: (message) => {
    discoveryMembers = message.members;
    return undefined;
  },
  stats: () => ({ jwksRequests }),
  stop,
};

process.on('message', async (message) => {
  try {
    const result = await handlers[message.type](message);
    process.send({ id: message.id, ok: true, result });
    if (message.type === 'stop') process.disconnect();
  } catch (err) {
    process.send({ id: message.id, ok: false, error: String(err?.stack ?? err) });
  }
});

// The parent went away (a crashed test run): do not outlive it.
process.on('disconnect', () => process.exit(0));
