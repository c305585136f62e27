import { Type } from 'class-transformer';
import { IsIn, IsInt, IsISO8601, IsOptional, IsString, Length, Matches, Max, Min } from 'class-validator';
import { LOCKDOWN_MODES, SECURITY_EVENT_TYPES, type LockdownMode, type SecurityEventType } from '@jwt-defense/core';
import { RevokeDto } from '../auth/auth.dto.js';

export class RevokeBeforeDto extends RevokeDto {
  /** ISO 8601, not later than now; default now. */
  @IsOptional() @IsISO8601({ strict: true }) at?: string;
}

export class LockdownDto extends RevokeDto {
  @IsIn(LOCKDOWN_MODES) mode!: LockdownMode;
}

export class KidParam {
  @IsString() @Matches(/^[A-Za-z0-9._-]{1,64}$/) kid!: string;
}

export class EventExportQueryDto {
  @IsOptional() @IsIn(SECURITY_EVENT_TYPES) type?: SecurityEventType;
  @IsOptional() @IsString() @Length(1, 255) sub?: string;
  @IsOptional() @IsISO8601({ strict: true }) since?: string;
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1000) limit?: number;
}
