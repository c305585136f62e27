import { IsInt, Max, Min } from 'class-validator';
import { REQUIRED } from '../common/options.js';

/** Refresh sessions (token families, rotated on every use). */
export class SessionOptions {
  declare readonly [REQUIRED]?: {};
  /** Refresh session lifetime, in seconds. Default 604800 (7 days); 60 to 7776000 (90 days). */
  @IsInt() @Min(60) @Max(7_776_000) refreshTokenTtlSec: number = 604_800;
}
