import type { IncomingMessage } from 'node:http';
import ipaddr from 'ipaddr.js';
import proxyAddr from 'proxy-addr';
import type { ProxyHeader, ProxyOptions } from './proxy.options.js';

/** RFC 7239 `for=` values of a `Forwarded` header, in order, without port or brackets. */
function forwardedFor(header: string): string[] {
  const found: string[] = [];
  for (const element of header.split(',')) {
    const match = /(?:^|;)\s*for\s*=\s*("?)\[?([^\]";,]+)\]?(?::\d+)?\1\s*(?:;|$)/i.exec(element);
    if (match) found.push(match[2]);
  }
  return found;
}

/**
 * The client address of a request: the socket address, unless the peer is a trusted proxy, in which case the
 * ONE configured header is walked from the right through trusted proxies only (`proxy-addr`, as Express does):
 * a forged left-most entry is never reached through an untrusted hop, and a header of another kind (a client's
 * own `X-Forwarded-For` behind a proxy that writes `Forwarded`) is ignored. IPv6 addresses are grouped by prefix.
 */
export class ClientIpResolver {
  private readonly trust: (address: string, index: number) => boolean;
  private readonly trustsNobody: boolean;
  private readonly header: ProxyHeader;
  private readonly ipv6SubnetPrefix: number;

  constructor(options: Pick<ProxyOptions, 'trusted'> & Partial<Pick<ProxyOptions, 'header' | 'ipv6SubnetPrefix'>>) {
    this.trust = proxyAddr.compile([...options.trusted]);
    this.trustsNobody = options.trusted.length === 0;
    this.header = options.header ?? 'x-forwarded-for';
    this.ipv6SubnetPrefix = options.ipv6SubnetPrefix ?? 64;
  }

  /** True when the request's peer (the socket address) is a trusted proxy: only then are its headers believed. */
  peerIsTrusted(request: IncomingMessage): boolean {
    if (this.trustsNobody) return false;
    const peer = request.socket?.remoteAddress;
    return peer !== undefined && this.trust(peer, 0);
  }

  /** The client's key for limits, events and risk: its address, an IPv6 one grouped by prefix. */
  resolve(request: IncomingMessage): string {
    return this.group(this.address(request));
  }

  /** The client's own address (trusted proxies only), before any grouping: what an address list matches. */
  address(request: IncomingMessage): string {
    const peer = request.socket?.remoteAddress ?? '';
    // Hot path: no proxy trusted, the peer is the client; no header is even parsed.
    if (this.trustsNobody) return peer;
    const headers = request.headers;
    let chain: string | undefined;
    if (this.header === 'x-forwarded-for') {
      chain = typeof headers['x-forwarded-for'] === 'string' ? headers['x-forwarded-for'] : undefined;
    } else if (this.header === 'forwarded') {
      chain = typeof headers.forwarded === 'string' ? forwardedFor(headers.forwarded).join(', ') : undefined;
    } else {
      const realIp = headers['x-real-ip'];
      chain = typeof realIp === 'string' && ipaddr.isValid(realIp.trim()) ? realIp.trim() : undefined;
    }
    // proxy-addr walks X-Forwarded-For only: present the configured header's chain to it in that form.
    const source = { socket: request.socket, connection: request.socket, headers: chain === undefined ? {} : { 'x-forwarded-for': chain } };
    return proxyAddr(source as unknown as IncomingMessage, this.trust);
  }

  /** An address as a client key: IPv4 (an IPv4-mapped IPv6 one too) as it is, IPv6 as its `ipv6SubnetPrefix` network. */
  group(address: string): string {
    if (!address.includes(':')) return address; // IPv4 (or not an address at all): as it is
    if (!ipaddr.isValid(address)) return address;
    const parsed = ipaddr.parse(address);
    if (parsed.kind() === 'ipv6') {
      const v6 = parsed as ipaddr.IPv6;
      if (v6.isIPv4MappedAddress()) return v6.toIPv4Address().toString();
      return `${ipaddr.IPv6.networkAddressFromCIDR(`${v6.toString()}/${this.ipv6SubnetPrefix}`).toString()}/${this.ipv6SubnetPrefix}`;
    }
    return parsed.toString();
  }
}
