import { IsArray, IsIn, IsInt, IsString, Max, Min } from 'class-validator';
import proxyAddr from 'proxy-addr';
import { OptionsCheck, optionsError, REQUIRED } from '../common/options.js';

/** The forwarding headers a trusted proxy may set; exactly one is believed. */
export const PROXY_HEADERS = ['x-forwarded-for', 'forwarded', 'x-real-ip'] as const;
export type ProxyHeader = (typeof PROXY_HEADERS)[number];

/**
 * Who the client is: the socket address, unless the peer is a trusted proxy, in which case the one configured
 * forwarding header is walked from the right through trusted proxies only (used by rate limits, events and
 * context risk).
 */
@OptionsCheck<ProxyOptions>((options, path) => {
  try {
    proxyAddr.compile([...options.trusted]);
  } catch {
    throw optionsError(`${path}.trusted`, 'must be a list of IP addresses or CIDRs (e.g. ["10.0.0.0/8"]); one entry is not');
  }
})
export class ProxyOptions {
  declare readonly [REQUIRED]?: {};
  /** Proxies (IPs or CIDRs) whose forwarding header is believed. Default none: the client is the socket address. */
  @IsArray() @IsString({ each: true }) trusted: string[] = [];
  /**
   * The one header believed from a trusted proxy: `x-forwarded-for`, `forwarded` (RFC 7239) or `x-real-ip`.
   * No fallback between headers: a client-sent header of another kind is ignored. Default `x-forwarded-for`.
   */
  @IsIn(PROXY_HEADERS) header: ProxyHeader = 'x-forwarded-for';
  /** IPv6 clients are grouped by this prefix length (one /64 is one subscriber). Default 64; 1 to 128. */
  @IsInt() @Min(1) @Max(128) ipv6SubnetPrefix: number = 64;
}
