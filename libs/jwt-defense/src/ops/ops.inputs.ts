import { BadRequestException, type PipeTransform } from '@nestjs/common';
import { IsIn, IsInt, isISO8601, IsOptional, IsString, Length, Matches, Max, Min, ValidateBy, validateSync } from 'class-validator';
import { SECURITY_EVENT_TYPES, type SecurityEventType } from '../events/security-event.js';
import { LOCKDOWN_MODES, type LockdownMode } from '../store/defense-store.ports.js';

/** An ISO 8601 instant that `Date.parse` reads: `IsISO8601` alone also takes week and ordinal dates (`2009-W01-1`), which it cannot. */
const IsInstant = () =>
  ValidateBy({
    name: 'isInstant',
    validator: {
      validate: (value: unknown) => typeof value === 'string' && isISO8601(value, { strict: true }) && Number.isFinite(Date.parse(value)),
      defaultMessage: () => '$property must be an ISO 8601 date and time',
    },
  });


/** An issuer URL or a token id: printable ASCII. */
const PRINTABLE = /^[\x21-\x7e]+$/;

export class ReasonInput {
  @IsString() @Length(1, 256) reason!: string;
}

export class RevokeUserInput extends ReasonInput {
  /** The user's issuer: one of `issuers[].issuer`; absent, this module's own. */
  @IsOptional() @IsString() @Length(1, 2048) @Matches(PRINTABLE) iss?: string;
}

export class RevokeTokenInput extends ReasonInput {
  /** The token's subject: required for a jti that is not one of this module's own (400 `subject_required`). */
  @IsOptional() @IsString() @Length(1, 255) sub?: string;
  @IsOptional() @IsString() @Length(1, 2048) @Matches(PRINTABLE) iss?: string;
}

export class RevokeBeforeInput extends ReasonInput {
  /** ISO 8601, not later than now; default now. */
  @IsOptional() @IsInstant() at?: string;
}

export class LockdownInput extends ReasonInput {
  @IsIn(LOCKDOWN_MODES) mode!: LockdownMode;
}

export class SubParam {
  @IsString() @Length(1, 255) sub!: string;
}

export class JtiParam {
  @IsString() @Length(1, 255) @Matches(PRINTABLE) jti!: string;
}

export class KidParam {
  @IsString() @Matches(/^[A-Za-z0-9._-]{1,64}$/) kid!: string;
}

export class EventsQuery {
  @IsOptional() @IsIn(SECURITY_EVENT_TYPES) type?: SecurityEventType;
  @IsOptional() @IsString() @Length(1, 255) sub?: string;
  @IsOptional() @IsInt() @Min(1) @Max(1000) limit?: number;
  /** Only events at or after this instant (ISO 8601). */
  @IsOptional() @IsInstant() since?: string;
}

/**
 * A handler parameter's type: the input's fields, not its class, so that the parameter's design type is `Object` and
 * an app's own global `ValidationPipe` (with `transform`, which would read `limit` as text) leaves it to our pipe.
 */
export type Checked<T> = { readonly [K in keyof T]: T[K] };

/** Query fields given as text that the input holds as integers. */
const INTEGER_FIELDS: ReadonlySet<string> = new Set(['limit']);

/**
 * Checks a body, query or path parameters against one of the input classes above, with the rules of a strict
 * `ValidationPipe` (unknown names refused, `limit` read as a number) but needing neither class-transformer nor a
 * pipe in the app: any problem is a 400 `invalid_request`, whose body names no field and echoes nothing.
 */
export class OpsInputPipe<T extends object> implements PipeTransform<unknown, T> {
  constructor(private readonly type: new () => T) {}

  transform(value: unknown): T {
    const given = value === undefined ? {} : value;
    if (given === null || typeof given !== 'object' || Array.isArray(given)) throw new BadRequestException();
    const input = new this.type() as Record<string, unknown>;
    for (const [name, field] of Object.entries(given)) {
      // A JSON body may name `__proto__` (an own key of JSON.parse's result), which class-validator does not see.
      if (name === '__proto__') throw new BadRequestException();
      Object.defineProperty(input, name, { value: INTEGER_FIELDS.has(name) && typeof field === 'string' ? Number(field) : field, enumerable: true, writable: true, configurable: true });
    }
    const errors = validateSync(input, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: false, validationError: { target: false, value: false } });
    if (errors.length > 0) throw new BadRequestException();
    return input as T;
  }
}
