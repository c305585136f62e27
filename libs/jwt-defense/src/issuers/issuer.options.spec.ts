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
  ])('refuses %s with a TypeError naming the option', (_name, issuers, message) => {
    expect(() => resolveJwtDefenseOptions(options(issuers))).toThrow(TypeError);
    expect(() => resolveJwtDefenseOptions(options(issuers))).toThrow(message);
  });

  it('takes a client list, and no list by default (any client of the issuer)', () => {
    expect(resolveJwtDefenseOptions(options([idp({ clients: ['spa', 'svc'] })])).issuers[0].clients).toEqual(['spa', 'svc']);
    expect(resolveJwtDefenseOptions(options([idp()])).issuers[0].clients).toBeUndefined();
    expect(resolveJwtDefenseOptions(options([idp({ roles: 'realm_access.roles' })])).issuers[0].roles).toBe('realm_access.roles');
  });
});
