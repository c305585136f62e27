import { randomBytes } from 'node:crypto';
import { resolveJwtDefenseOptions } from '../../jwt-defense.options.js';
import { redisUrlProblem } from './redis-url.js';

const optionsWith = (connection: unknown) =>
  resolveJwtDefenseOptions({
    token: { issuer: 'iss', audience: 'aud', keys: [{ kid: 'k', algorithms: ['HS256'], secret: randomBytes(32) }] },
    store: { type: 'redis', connection: connection as string },
  });

describe('redisUrlProblem', () => {
  it.each([
    'redis://localhost',
    'redis://127.0.0.1:6379/2',
    'REDIS://host:6380',
    `redis://:${encodeURIComponent('p@ss:w/rd#1')}@host:6379`,
    'rediss://jwtd:secret@redis.internal:6380/0',
    'redis://[::1]:6379',
    '/var/run/redis/redis.sock',
    // Without a scheme, as ioredis reads them (a docker-compose `redis:6379`): host[:port][/db], //host..., a port.
    'cache-node-7:6379',
    'redis:6379',
    '//cache:6380/2',
    '6379',
  ])('accepts %s (what ioredis connects to)', (url) => {
    expect(redisUrlProblem(url)).toBeUndefined();
    expect(optionsWith(url).store).toMatchObject({ type: 'redis', connection: url });
  });

  it.each([
    ['a port out of range', 'redis://:secret@cache-node-7:99999'],
    ['a port that is no number', 'redis://cache-node-7:port'],
    ['an unencoded # in the password', 'redis://:se#cret@cache-node-7:6379'],
    ['another scheme', 'http://cache-node-7:6379'],
    ['a missing // (read as a host redis with a port that is no number)', 'redis:cache-node-7:6379'],
    ['a bare port out of range', '99999'],
    ['no scheme and a path that is no database number', 'cache-node-7:6379/cache'],
    ['no host', 'redis://:secret@:6379'],
    ['a path that is no database number', 'redis://cache-node-7:6379/cache'],
    ['a broken percent-encoding', 'redis://:secret%zz@cache-node-7:6379'],
  ])('refuses %s at boot naming store.connection, never quoting the URL', (_name, url) => {
    expect(redisUrlProblem(url)).toEqual(expect.any(String));
    expect(() => optionsWith(url)).toThrow(TypeError);
    expect(() => optionsWith(url)).toThrow(/^jwt-defense: invalid options: store\.connection /);
    let message = '';
    try {
      optionsWith(url);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).not.toContain('secret');
    expect(message).not.toContain('cache-node-7');
  });

  it('refuses a connection that is neither a URL nor an object', () => {
    expect(() => optionsWith(6379)).toThrow(/store\.connection must be/);
  });
});
