import fc from 'fast-check';
import { TokenVerificationError } from '../errors/defense.exceptions.js';
import { prefilterCompactJws } from './compact-jws.js';

const options = { maxTokenBytes: 8192, tokenType: 'at+jwt', allowedAlgorithms: new Set(['ES256']) };
const seg = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const good = { alg: 'ES256', typ: 'at+jwt', kid: 'k1' };

describe('prefilterCompactJws', () => {
  it('returns the parsed parts of a well-formed token', () => {
    const token = `${seg(good)}.${seg({ sub: 'a' })}.${seg('sig')}`;
    const jws = prefilterCompactJws(token, options);
    expect(jws.header).toEqual(good);
    expect(jws.payload).toEqual({ sub: 'a' });
    expect(jws.signature.toString()).toBe('sig');
    expect(jws.signingInput).toBe(token.slice(0, token.lastIndexOf('.')));
  });

  it('accepts typ case-insensitively and with the application/ prefix', () => {
    for (const typ of ['AT+JWT', 'application/at+jwt']) {
      expect(prefilterCompactJws(`${seg({ ...good, typ })}.${seg({})}.${seg('s')}`, options).header.typ).toBe(typ);
    }
  });

  it('only ever throws TokenVerificationError on arbitrary input', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 200 }),
          fc.tuple(fc.jsonValue(), fc.jsonValue(), fc.string()).map(([h, p, s]) => `${seg(JSON.stringify(h) ?? '')}.${seg(JSON.stringify(p) ?? '')}.${seg(s)}`),
          fc.tuple(fc.dictionary(fc.string(), fc.jsonValue()), fc.string()).map(([extra, s]) => `${seg({ ...good, ...extra })}.${seg({})}.${seg(s)}`),
        ),
        (token) => {
          try {
            const jws = prefilterCompactJws(token, options);
            // Whatever passes has the invariants the verifier relies on.
            expect(jws.header.alg).toBe('ES256');
            expect(jws.header.kid).toMatch(/^[A-Za-z0-9._-]{1,64}$/);
            expect(jws.signature.length).toBeGreaterThan(0);
          } catch (error) {
            expect(error).toBeInstanceOf(TokenVerificationError);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});
