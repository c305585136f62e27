import type { IncomingMessage } from 'node:http';
import { Logger } from '@nestjs/common';

/** Where the client's country comes from. No network call at request time: a header from the edge, or an offline database. */
export interface CountryResolver {
  /** ISO 3166 alpha-2 (upper case), or `undefined` when unknown. */
  resolve(request: IncomingMessage, clientIp: string, fromTrustedProxy: boolean): string | undefined;
}

const COUNTRY = /^[A-Z]{2}$/;

/** Reads a header set by a trusted edge (`CF-IPCountry` style), only when the peer is a trusted proxy. */
export class HeaderCountryResolver implements CountryResolver {
  constructor(private readonly header: string) {}

  resolve(request: IncomingMessage, _clientIp: string, fromTrustedProxy: boolean): string | undefined {
    if (!fromTrustedProxy) return undefined;
    const value = request.headers[this.header];
    if (typeof value !== 'string') return undefined;
    const country = value.trim().toUpperCase();
    return COUNTRY.test(country) ? country : undefined;
  }
}

type MaxMindReader = { get(ip: string): { country?: { iso_code?: string }; registered_country?: { iso_code?: string } } | null };

/**
 * Reads the country of the client address from a MaxMind database (GeoIP2 / GeoLite2 Country or City, `.mmdb`),
 * offline, with the `maxmind` package (an optional dependency: install it to use this). Open it once at boot.
 */
export class MaxMindCountryResolver implements CountryResolver {
  private constructor(private readonly reader: MaxMindReader) {}

  static async open(path: string): Promise<MaxMindCountryResolver> {
    let maxmind: { open(path: string): Promise<MaxMindReader> };
    try {
      maxmind = (await import('maxmind' as string)) as typeof maxmind;
    } catch (error) {
      throw new TypeError(`jwt-defense: invalid options: risk.maxmindDatabase needs the "maxmind" package: npm install maxmind (${(error as Error).message})`);
    }
    const open = maxmind.open ?? (maxmind as unknown as { default: typeof maxmind }).default.open;
    try {
      return new MaxMindCountryResolver(await open(path));
    } catch (error) {
      throw new TypeError(`jwt-defense: invalid options: risk.maxmindDatabase could not be opened as a MaxMind database: ${(error as Error).message}`);
    }
  }

  resolve(_request: IncomingMessage, clientIp: string): string | undefined {
    // IPv6 clients are grouped by prefix ("2001:db8::/64"): the network address stands for them.
    const address = clientIp.includes('/') ? clientIp.slice(0, clientIp.indexOf('/')) : clientIp;
    try {
      const record = this.reader.get(address);
      const code = record?.country?.iso_code ?? record?.registered_country?.iso_code;
      return code && COUNTRY.test(code) ? code : undefined;
    } catch {
      new Logger('JwtDefense').debug('country lookup failed for a client address');
      return undefined;
    }
  }
}
