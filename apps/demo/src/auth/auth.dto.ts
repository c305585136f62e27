import { Type } from 'class-transformer';
import { IsIn, IsInt, IsISO8601, IsOptional, IsString, Length, Matches, Max, Min } from 'class-validator';
import { SECURITY_EVENT_TYPES, type SecurityEventType } from '@jwt-defense/core';

export class LoginDto {
  @IsString() @Length(1, 64) username!: string;
  @IsString() @Length(1, 256) password!: string;
}

export class RefreshDto {
  @IsString() @Length(1, 4096) @Matches(/^[A-Za-z0-9._~-]+$/) refresh_token!: string;
}

export class RevokeDto {
  @IsString() @Length(1, 256) reason!: string;
}

/** The user's issuer: `EXTERNAL_ISSUER` for its users; absent, the demo's own (a URL of printable ASCII). */
const ISSUER = /^[\x21-\x7e]+$/;

export class RevokeUserDto extends RevokeDto {
  @IsOptional() @IsString() @Length(1, 2048) @Matches(ISSUER) iss?: string;
}

export class SecurityEventsQueryDto {
  @IsOptional() @IsIn(SECURITY_EVENT_TYPES) type?: SecurityEventType;
  @IsOptional() @IsString() @Length(1, 255) sub?: string;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1000) limit?: number;
  /** Only events at or after this instant (ISO 8601; an extension of the contract). */
  @IsOptional() @IsISO8601({ strict: true }) since?: string;
}

export class SubParam {
  @IsString() @Length(1, 255) sub!: string;
}

/** Any jti (the demo's own carry their user; another issuer's need `sub` in the body). */
export class JtiParam {
  @IsString() @Length(1, 255) @Matches(/^[\x21-\x7e]+$/) jti!: string;
}

export class RevokeTokenDto extends RevokeDto {
  /** The token's subject: required for a jti that is not one of the demo's own (400 `subject_required`). */
  @IsOptional() @IsString() @Length(1, 255) sub?: string;
  /** The token's issuer, for a token of `EXTERNAL_ISSUER` (with its `sub`); absent, the demo's own. */
  @IsOptional() @IsString() @Length(1, 2048) @Matches(ISSUER) iss?: string;
}
