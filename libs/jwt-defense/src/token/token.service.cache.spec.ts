import { generateKeyPairSync } from 'node:crypto';
import { DefenseClock } from '../common/defense-clock.js';
import { resolveOptions } from '../common/options.js';
import { TokenOptions } from './token.options.js';
import { TokenService } from './token.service.js';

const key = { kid: 'es', algorithms: ['ES256' as const], privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey };
const service = (verifiedTokenCacheSize?: number) =>
  new TokenService(resolveOptions(TokenOptions, { issuer: 'i', audience: 'a', keys: [key], verifiedTokenCacheSize }, 'token'), new DefenseClock());

describe('TokenService with its verified-token cache', () => {
  afterEach(() => {
    jest.restoreAllMocks();
    jest.useRealTimers();
  });

  it('skips the signature check for a token already verified, and only for that exact token', async () => {
    const tokens = service();
    const { token } = await tokens.issue('alice');
    const verify = jest.spyOn(tokens.keyResolver, 'key'); // each signature check asks the ring for its key first
    await tokens.verify(token);
    await tokens.verify(token);
    await tokens.verify(token);
    expect(verify).toHaveBeenCalledTimes(1);
    const [h, p, s] = token.split('.');
    const tampered = `${h}.${p}.${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`;
    await expect(tokens.verify(tampered)).rejects.toMatchObject({ code: 'signature_invalid' });
    expect(verify).toHaveBeenCalledTimes(2);
  });

  it('verifies every time when turned off', async () => {
    const tokens = service(0);
    const { token } = await tokens.issue('alice');
    const verify = jest.spyOn(tokens.keyResolver, 'key'); // each signature check asks the ring for its key first
    await tokens.verify(token);
    await tokens.verify(token);
    expect(verify).toHaveBeenCalledTimes(2);
  });

  it('drops an entry at exp (+ tolerance): an expired token is refused even if cached', async () => {
    const t0 = Date.UTC(2026, 10, 24);
    jest.useFakeTimers({ now: t0 });
    const tokens = service();
    const { token, exp } = await tokens.issue('alice');
    await tokens.verify(token);
    jest.setSystemTime((exp + 30) * 1000);
    await expect(tokens.verify(token)).rejects.toMatchObject({ code: 'token_expired' });
  });

  it('is bounded', async () => {
    const tokens = service(3);
    const issued = await Promise.all([1, 2, 3, 4, 5].map(() => tokens.issue('alice')));
    for (const { token } of issued) await tokens.verify(token);
    const verify = jest.spyOn(tokens.keyResolver, 'key'); // each signature check asks the ring for its key first
    await tokens.verify(issued[0].token); // evicted: verified again
    await tokens.verify(issued[4].token); // still cached
    expect(verify).toHaveBeenCalledTimes(1);
  });
});
