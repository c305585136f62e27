import { resolveOptions } from '../common/options.js';
import { ThrottleOptions } from './throttle.options.js';

const throttle = (input: unknown) => resolveOptions(ThrottleOptions, input, 'throttle');

describe('throttle.insurance', () => {
  it('is off by default; on, it takes the number of instances; every limit is insured unless it opts out', () => {
    expect(throttle({}).insurance).toBe(false);
    expect(throttle({ insurance: false }).insurance).toBe(false);
    expect(throttle({ insurance: { instances: 1 } }).insurance).toEqual({ instances: 1 });
    expect(throttle({ insurance: { instances: 1000 } }).insurance).toEqual({ instances: 1000 });
    expect(throttle({ ip: { limit: 5, ttlMs: 1000, insurance: false } }).ip).toEqual({ limit: 5, ttlMs: 1000, insurance: false });
    expect(throttle({ profiles: { login: { body: { field: 'username', limit: 5, ttlMs: 1000, insurance: false } } } }).profiles.login.body).toMatchObject({ insurance: false });
  });

  it.each<[string, unknown, RegExp]>([
    ['no instance count', { insurance: {} }, /throttle\.insurance\.instances/],
    ['zero instances', { insurance: { instances: 0 } }, /throttle\.insurance\.instances must not be less than 1/],
    ['over 1000 instances', { insurance: { instances: 1001 } }, /throttle\.insurance\.instances must not be greater than 1000/],
    ['a fractional count', { insurance: { instances: 1.5 } }, /throttle\.insurance\.instances must be an integer/],
    ['true (the count is not guessed)', { insurance: true }, /throttle\.insurance must be an object/],
    ['a misspelled member', { insurance: { instance: 2 } }, /throttle\.insurance\.instance is not an option: did you mean "instances"\?/],
    ['a limit opt-out that is not a boolean', { user: { limit: 5, ttlMs: 1000, insurance: 'no' } }, /throttle\.user\.insurance must be a boolean/],
  ])('refuses %s at boot, naming the option', (_name, input, message) => {
    expect(() => throttle(input)).toThrow(TypeError);
    expect(() => throttle(input)).toThrow(message);
  });
});
