import { randomBytes } from 'node:crypto';
import { resolveJwtDefenseOptions, type JwtDefenseModuleOptions } from '../jwt-defense.options.js';

const OWN = 'https://api.example.com';
const IDP = 'https://idp.example.com/';
const options = (issuers: Array<Record<string, unknown>>): JwtDefenseModuleOptions =>
  ({
    token: { issuer: OWN, audience: 'api', keys: [{ kid: 'k', algorithms: ['HS256'], secret: randomBytes(32) }] },
    issuers,
  }) as unknown as JwtDefenseModuleOptions;
const idp = (extra: Record<string, unknown> = {}) => ({ issuer: IDP, audience: 'https://orders.example.com', ...extra });

describe('issuers[] at boot', () => {
  it.each<[string, Array<Record<string, unknown>>, RegExp]>([
    ['an issuer with a control character (it would end the issuer in its users\' keys)', [idp({ issuer: 'https://idp.example.com/\u001fbob' })], /issuers\[0\]\.issuer must not contain a control character/],
    ['an issuer with a C1 control character', [idp({ issuer: 'https://idp.example.com/\u0085' })], /issuers\[0\]\.issuer must not contain a control character/],
    ["this module's own issuer (its users are keyed by their bare subject)", [idp({ issuer: OWN })], /issuers\[0\]\.issuer is token\.issuer/],
    ['the same issuer twice', [idp(), idp({ audience: 'other' })], /issuers\[1\]\.issuer is listed twice/],
    ['the scopes as roles (`scope`)', [idp({ roles: 'scope' })], /issuers\[0\]\.roles must not be the scopes: scopes are never roles/],
    ['the scopes as roles (`scp`)', [idp({ roles: 'scp' })], /issuers\[0\]\.roles must not be the scopes/],
    ['an empty client list', [idp({ clients: [] })], /issuers\[0\]\.clients must list at least one client id/],
    ['a client id that is not a string', [idp({ clients: ['spa', 7] })], /issuers\[0\]\.clients must be a list of client ids/],
    ['an empty client id', [idp({ clients: [''] })], /issuers\[0\]\.clients must be a list of client ids/],
    ['an http issuer without allowInsecureLoopback (the option is the fix on a loopback host)', [idp({ issuer: 'http://127.0.0.1:8080/realms/dev' })], /issuers\[0\]\.issuer must be an https URL \(a development provider on http on this machine needs issuers\[0\]\.allowInsecureLoopback: true\)/],
    ['an http jwksUri without allowInsecureLoopback', [idp({ jwksUri: 'http://localhost:8080/jwks' })], /issuers\[0\]\.jwksUri must be an https URL .*issuers\[0\]\.allowInsecureLoopback/],
    ...['http://idp.example.com/', 'http://10.0.0.5:8080/', 'http://0.0.0.0:8080/', 'http://[::2]/', 'http://localhost.example.com/', 'http://127.0.0.1.nip.io/'].map(
      (issuer): [string, Array<Record<string, unknown>>, RegExp] => [
        `an http issuer on a host that is not loopback (${issuer}), even with allowInsecureLoopback`,
        [idp({ issuer, allowInsecureLoopback: true })],
        /issuers\[0\]\.issuer is http on .*, not a loopback host: issuers\[0\]\.allowInsecureLoopback allows http on localhost, 127\.0\.0\.0\/8 and ::1 only/,
      ],
    ),
    ['an http jwksUri on a host that is not loopback, even with allowInsecureLoopback', [idp({ issuer: 'http://localhost:8080/', jwksUri: 'http://idp.example.com/jwks', allowInsecureLoopback: true })], /issuers\[0\]\.jwksUri is http on idp\.example\.com, not a loopback host/],
    ['a URL of another scheme, even with allowInsecureLoopback', [idp({ issuer: 'ftp://localhost/', allowInsecureLoopback: true })], /issuers\[0\]\.issuer must be an https URL;/],
  ])('refuses %s with a TypeError naming the option', (_name, issuers, message) => {
    expect(() => resolveJwtDefenseOptions(options(issuers))).toThrow(TypeError);
    expect(() => resolveJwtDefenseOptions(options(issuers))).toThrow(message);
  });

  it.each(['http://localhost:8080/realms/dev', 'http://127.0.0.1:8080', 'http://127.8.9.10/', 'http://[::1]:8080/', 'http://[::ffff:127.0.0.1]/', 'https://idp.example.com/'])(
    'takes %s with allowInsecureLoopback (its JWKS on http on a loopback host too)',
    (issuer) => {
      const [resolved] = resolveJwtDefenseOptions(options([idp({ issuer, jwksUri: 'http://localhost:8080/jwks', allowInsecureLoopback: true })])).issuers;
      expect({ issuer: resolved.issuer, allowInsecureLoopback: resolved.allowInsecureLoopback }).toEqual({ issuer, allowInsecureLoopback: true });
    },
  );

  it('refuses allowInsecureLoopback when NODE_ENV=production, and defaults it to false', () => {
    const before = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    try {
      const loopback = options([idp({ issuer: 'http://localhost:8080/', allowInsecureLoopback: true })]);
      expect(() => resolveJwtDefenseOptions(loopback)).toThrow(TypeError);
      expect(() => resolveJwtDefenseOptions(loopback)).toThrow(/issuers\[0\]\.allowInsecureLoopback must not be true when NODE_ENV=production/);
      expect(resolveJwtDefenseOptions(options([idp()])).issuers[0].allowInsecureLoopback).toBe(false);
    } finally {
      process.env.NODE_ENV = before;
    }
  });

  it('takes a client list, and no list by default (any client of the issuer)', () => {
    expect(resolveJwtDefenseOptions(options([idp({ clients: ['spa', 'svc'] })])).issuers[0].clients).toEqual(['spa', 'svc']);
    expect(resolveJwtDefenseOptions(options([idp()])).issuers[0].clients).toBeUndefined();
    expect(resolveJwtDefenseOptions(options([idp({ roles: 'realm_access.roles' })])).issuers[0].roles).toBe('realm_access.roles');
  });
});
