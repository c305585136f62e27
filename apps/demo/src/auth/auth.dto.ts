import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Length, Matches, Max, Min } from 'class-validator';
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

export class SecurityEventsQueryDto {
  @IsOptional() @IsIn(SECURITY_EVENT_TYPES) type?: SecurityEventType;
  @IsOptional() @IsString() @Length(1, 255) sub?: string;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1000) limit?: number;
}

export class SubParam {
  @IsString() @Length(1, 255) sub!: string;
}

/** Every token of the demo has a jti of this service's format (user tag, time, random: 42 base64url characters). */
export class JtiParam {
  @Matches(/^[A-Za-z0-9_-]{42}$/) jti!: string;
}
