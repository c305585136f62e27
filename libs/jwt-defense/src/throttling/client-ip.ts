import type { IncomingMessage } from 'node:http';
import ipaddr from 'ipaddr.js';
import proxyAddr from 'proxy-addr';

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
 * The client address of a request: the socket address, unless it is a trusted proxy, in which case the
 * forwarded chain is walked from the right through trusted proxies only (`proxy-addr`, as Express does).
 * A forged left-most entry is never reached through an untrusted hop. IPv6 addresses are grouped by prefix.
 */
export class ClientIpResolver {
  private readonly trust: (address: string, index: number) => boolean;
  private readonly trustsNobody: boolean;

  constructor(
    trustProxy: readonly string[],
    private readonly ipv6SubnetPrefix = 64,
  ) {
    this.trust = proxyAddr.compile([...trustProxy]);
    this.trustsNobody = trustProxy.length === 0;
  }

  resolve(request: IncomingMessage): string {
    // Hot path: no proxy trusted, the peer is the client; no header is even parsed.
    if (this.trustsNobody) return this.normalize(request.socket?.remoteAddress ?? '');
    const headers = request.headers;
    let source: IncomingMessage = request;
    if (headers['x-forwarded-for'] === undefined && typeof headers.forwarded === 'string') {
      // proxy-addr reads X-Forwarded-For only: present the Forwarded chain to it in that form.
      source = { socket: request.socket, connection: request.socket, headers: { 'x-forwarded-for': forwardedFor(headers.forwarded).join(', ') } } as unknown as IncomingMessage;
    }
    return this.normalize(proxyAddr(source, this.trust));
  }

  private normalize(address: string): string {
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
