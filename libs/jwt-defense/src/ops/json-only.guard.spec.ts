import fc from 'fast-check';
import type { ExecutionContext } from '@nestjs/common';
import { isJsonMediaType, JsonOnlyGuard } from './json-only.guard.js';

const TOKEN_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789!#$&^_.-'.split('');

describe('isJsonMediaType', () => {
  it.each([
    ['application/json', true],
    ['application/json; charset=utf-8', true],
    ['Application/JSON;charset=UTF-8', true],
    ['  application/json  ', true],
    ['application/vnd.api+json', true],
    ['application/merge-patch+json; charset=utf-8', true],
    ['application/x-www-form-urlencoded', false],
    ['multipart/form-data; boundary=x', false],
    ['text/plain', false],
    ['text/plain; charset=application/json', false],
    ['text/json', false],
    ['application/jsonp', false],
    ['application/json+xml', false],
    ['application/+json', false],
    ['application/json/x', false],
    ['', false],
  ])('%j → %s', (type, expected) => {
    expect(isJsonMediaType(type)).toBe(expected);
  });

  it('takes exactly application/json and application/<name>+json, whatever the case and the parameters', () => {
    const name = fc.string({ unit: fc.constantFrom(...TOKEN_CHARS), minLength: 1, maxLength: 20 });
    const parameters = fc.string({ maxLength: 40 }).map((rest) => `;${rest}`);
    const upper = fc.boolean();
    fc.assert(
      fc.property(fc.oneof(fc.constant('json'), name.map((n) => `${n}+json`)), fc.option(parameters), upper, (subtype, params, shout) => {
        const type = `application/${subtype}${params ?? ''}`;
        expect(isJsonMediaType(shout ? type.toUpperCase() : type)).toBe(true);
      }),
      { numRuns: 2000 },
    );
    // Another type, or another application/ subtype: refused, by construction.
    const other = fc.oneof(
      fc.tuple(name.filter((type) => type !== 'application'), fc.oneof(name, name.map((n) => `${n}+json`), fc.constant('json'))),
      fc.tuple(fc.constant('application'), name.filter((subtype) => subtype !== 'json' && !subtype.endsWith('+json'))),
    );
    fc.assert(
      fc.property(other, fc.option(parameters), ([type, subtype], params) => {
        expect(isJsonMediaType(`${type}/${subtype}${params ?? ''}`)).toBe(false);
      }),
      { numRuns: 2000 },
    );
    fc.assert(fc.property(fc.string({ maxLength: 100 }), (anything) => typeof isJsonMediaType(anything) === 'boolean'), { numRuns: 2000 });
  });
});

describe('JsonOnlyGuard', () => {
  it('refuses to guard anything but an HTTP route (a gateway, resolver or message handler has no HTTP body to check)', () => {
    for (const type of ['ws', 'rpc', 'graphql']) {
      const context = { getType: () => type } as unknown as ExecutionContext;
      expect(() => new JsonOnlyGuard().canActivate(context)).toThrow(/JsonOnlyGuard checks HTTP request bodies.*use it on HTTP routes only/);
    }
  });
});

