import type { IncomingMessage } from 'node:http';
import fc from 'fast-check';
import { ClientIpResolver } from './client-ip.js';

const request = (remoteAddress: string, headers: Record<string, string> = {}) =>
  ({ socket: { remoteAddress }, connection: { remoteAddress }, headers }) as unknown as IncomingMessage;

describe('ClientIpResolver', () => {
  it('ignores forwarding headers when no proxy is trusted', () => {
    const resolver = new ClientIpResolver({ trusted: [] });
    expect(resolver.resolve(request('203.0.113.9', { 'x-forwarded-for': '198.51.100.1' }))).toBe('203.0.113.9');
    expect(resolver.resolve(request('203.0.113.9', { forwarded: 'for=198.51.100.1' }))).toBe('203.0.113.9');
  });

  it('walks X-Forwarded-For from the right through trusted proxies only: a forged left-most entry is never used', () => {
    const resolver = new ClientIpResolver({ trusted: ['127.0.0.1/32', '10.0.0.0/8'] });
    expect(resolver.resolve(request('127.0.0.1', { 'x-forwarded-for': '198.51.100.1' }))).toBe('198.51.100.1');
    expect(resolver.resolve(request('127.0.0.1', { 'x-forwarded-for': '6.6.6.6, 198.51.100.1, 10.1.2.3' }))).toBe('198.51.100.1');
    // Sent by an untrusted client directly: its header means nothing.
    expect(resolver.resolve(request('203.0.113.9', { 'x-forwarded-for': '198.51.100.1' }))).toBe('203.0.113.9');
  });

  it('reads RFC 7239 Forwarded through trusted proxies when that is the configured header', () => {
    const resolver = new ClientIpResolver({ trusted: ['127.0.0.1/32'], header: 'forwarded' });
    expect(resolver.resolve(request('127.0.0.1', { forwarded: 'for=6.6.6.6, for="[2001:db8::1]:443";proto=https' }))).toBe('2001:db8::/64');
    expect(resolver.resolve(request('127.0.0.1', { forwarded: 'for=198.51.100.7;proto=https' }))).toBe('198.51.100.7');
  });

  it('believes only the configured header: no fallback to another kind a client can send', () => {
    const forwarded = new ClientIpResolver({ trusted: ['127.0.0.1/32'], header: 'forwarded' });
    // The proxy wrote only Forwarded; the client added its own X-Forwarded-For.
    expect(forwarded.resolve(request('127.0.0.1', { forwarded: 'for=198.51.100.7', 'x-forwarded-for': '6.6.6.6' }))).toBe('198.51.100.7');
    expect(forwarded.resolve(request('127.0.0.1', { 'x-forwarded-for': '6.6.6.6' }))).toBe('127.0.0.1');
    const xff = new ClientIpResolver({ trusted: ['127.0.0.1/32'] });
    expect(xff.resolve(request('127.0.0.1', { forwarded: 'for=6.6.6.6' }))).toBe('127.0.0.1');
    const realIp = new ClientIpResolver({ trusted: ['127.0.0.1/32'], header: 'x-real-ip' });
    expect(realIp.resolve(request('127.0.0.1', { 'x-real-ip': '198.51.100.8', 'x-forwarded-for': '6.6.6.6' }))).toBe('198.51.100.8');
    expect(realIp.resolve(request('203.0.113.1', { 'x-real-ip': '198.51.100.8' }))).toBe('203.0.113.1');
    expect(realIp.resolve(request('127.0.0.1', { 'x-real-ip': 'not an address' }))).toBe('127.0.0.1');
  });

  it('groups IPv6 clients by /64 (configurable) and unwraps IPv4-mapped addresses', () => {
    expect(new ClientIpResolver({ trusted: [] }).resolve(request('2001:db8:1:2:aaaa::1'))).toBe('2001:db8:1:2::/64');
    expect(new ClientIpResolver({ trusted: [] }).resolve(request('2001:db8:1:2:bbbb::2'))).toBe('2001:db8:1:2::/64');
    expect(new ClientIpResolver({ trusted: [], ipv6SubnetPrefix: 48 }).resolve(request('2001:db8:1:2::1'))).toBe('2001:db8:1::/48');
    expect(new ClientIpResolver({ trusted: [] }).resolve(request('::ffff:198.51.100.4'))).toBe('198.51.100.4');
  });

  it('whatever the forwarded chain, an untrusted peer is the client (property)', () => {
    const resolver = new ClientIpResolver({ trusted: ['10.0.0.0/8'] });
    fc.assert(
      fc.property(fc.ipV4(), fc.array(fc.oneof(fc.ipV4(), fc.ipV6(), fc.string())), (peer, chain) => {
        fc.pre(!peer.startsWith('10.'));
        expect(resolver.resolve(request(peer, { 'x-forwarded-for': chain.join(', ') }))).toBe(peer);
      }),
    );
  });
});
