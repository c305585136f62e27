import { IsIn, IsInt, IsNumber, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { Nested, OptionsCheck, optionsError, REQUIRED } from '../common/options.js';
import type { CountryResolver } from './country-resolver.js';
import type { RiskSignal } from './risk-signals.js';

/** How a layer acts: `enforce` (refuse), `monitor` (score and record, never refuse), `off`. */
export type LayerMode = 'enforce' | 'monitor' | 'off';
export const LAYER_MODES: readonly LayerMode[] = ['enforce', 'monitor', 'off'];

/** The weight each built-in signal adds to the score when it fires, 0 to 1. */
export class RiskWeightsOptions {
  declare readonly [REQUIRED]?: {};
  /** A country not seen for this user within `knownForDays`. Default 0.4. */
  @IsNumber() @Min(0) @Max(1) newCountry: number = 0.4;
  /** A device not seen for this user within `knownForDays`. Default 0.3. */
  @IsNumber() @Min(0) @Max(1) unknownDevice: number = 0.3;
  /** An hour of the week at which this user is rarely active (learned, silent until `minHistory`). Default 0.2. */
  @IsNumber() @Min(0) @Max(1) unusualHour: number = 0.2;
  /** A country different from the last one, sooner than `impossibleTravelWithinMin`. Default 0.5. */
  @IsNumber() @Min(0) @Max(1) impossibleTravel: number = 0.5;
}

/**
 * Layer 3: context risk. Each request with a verified token is scored from its context (country, device, hour)
 * against what the user's logins and allowed requests taught, and allowed, challenged (step-up, RFC 9470) or denied.
 */
@OptionsCheck<RiskOptions>((options, path) => {
  if (options.stepUpAt > options.denyAt) throw optionsError(`${path}.stepUpAt`, 'must not be greater than denyAt');
})
export class RiskOptions {
  declare readonly [REQUIRED]?: {};
  /**
   * `enforce`: step-up and deny answer 401/403; `monitor`: score and record events, never refuse (turn the layer
   * on safely, then enforce); `off`: no state, no cost. Default `off`. Per route: `@DefensePolicy({ risk })`.
   */
  @IsIn(LAYER_MODES) mode: LayerMode = 'off';
  /** A score at or above this asks for a step-up (401 `insufficient_user_authentication`). Default 0.4; 0 to 2. */
  @IsNumber() @Min(0) @Max(2) stepUpAt: number = 0.4;
  /** A score at or above this is denied (403 `risk_denied`). Default 0.8; 0 to 2 (above 1: never). */
  @IsNumber() @Min(0) @Max(2) denyAt: number = 0.8;
  /** Weights of the built-in signals. */
  @Nested(() => RiskWeightsOptions) weights: RiskWeightsOptions = new RiskWeightsOptions();
  /** More signals (small objects with a `name`, a `weight` and `evaluate`), added to the built-in ones. Default none. */
  @IsOptional() signals?: RiskSignal[];
  /**
   * Header with the client's ISO country, set by a trusted edge (Cloudflare's `CF-IPCountry` style); believed only
   * from `proxy.trusted` peers, ignored otherwise. Default `cf-ipcountry`.
   */
  @IsString() @Matches(/^[a-z0-9-]{1,64}$/, { message: 'countryHeader must be a lower-case header name' }) countryHeader: string = 'cf-ipcountry';
  /** A MaxMind `.mmdb` (GeoIP2/GeoLite2 Country or City) to read the country from the client address, offline; needs the `maxmind` package. Default none. */
  @IsOptional() @IsString() maxmindDatabase?: string;
  /** Your own country resolver (an object with `resolve(request, clientIp)`), used instead of the header and MaxMind. */
  @IsOptional() countryResolver?: CountryResolver;
  /** Header with a device id the app sets (else: the user-agent family and OS with the first language). Default `x-device-id`. */
  @IsString() @Matches(/^[a-z0-9-]{1,64}$/, { message: 'deviceIdHeader must be a lower-case header name' }) deviceIdHeader: string = 'x-device-id';
  /** A country or device not seen within this many days is new again. Default 90; 1 to 3650. */
  @IsInt() @Min(1) @Max(3650) knownForDays: number = 90;
  /** Devices remembered per user; the least recently seen goes. Default 20; 1 to 1000. */
  @IsInt() @Min(1) @Max(1000) maxDevices: number = 20;
  /** Countries remembered per user; the least recently seen goes. Default 20; 1 to 250. */
  @IsInt() @Min(1) @Max(250) maxCountries: number = 20;
  /** Share of the user's learned activity at this hour of the week (± 1 h) below which it is unusual. Default 0.02. */
  @IsNumber() @Min(0) @Max(1) unusualHourShare: number = 0.02;
  /** Learned requests before the unusual-hour signal speaks. Default 50; 1 to 100000. */
  @IsInt() @Min(1) @Max(100_000) minHistory: number = 50;
  /** Half-life of the hour-of-week histogram, in days: older habits fade. Default 30; 1 to 3650. */
  @IsInt() @Min(1) @Max(3650) hourHalfLifeDays: number = 30;
  /** A country change sooner than this after the last one (minutes) is impossible travel. Default 120; 1 to 10080. */
  @IsInt() @Min(1) @Max(10_080) impossibleTravelWithinMin: number = 120;
  /** An idle user's profile is forgotten after this many days. Default 180; 1 to 3650. */
  @IsInt() @Min(1) @Max(3650) profileTtlDays: number = 180;
}

/** A route's own risk policy (`@DefensePolicy({ risk })`); what it leaves out comes from the module options. */
export class RouteRiskOptions {
  declare readonly [REQUIRED]?: {};
  /** The layer's mode on this route. */
  @IsOptional() @IsIn(LAYER_MODES) mode?: LayerMode;
  /** Step-up threshold on this route, 0 to 2. */
  @IsOptional() @IsNumber() @Min(0) @Max(2) stepUpAt?: number;
  /** Deny threshold on this route, 0 to 2. */
  @IsOptional() @IsNumber() @Min(0) @Max(2) denyAt?: number;
}
