import { Inject, Injectable, type NestMiddleware } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { rawResponse } from '../common/http.js';
import { JWT_DEFENSE_OPTIONS } from '../jwt-defense.tokens.js';
import type { ResolvedJwtDefenseOptions } from '../jwt-defense.options.js';
import type { HeaderSet } from './security-headers.options.js';

/**
 * Layer 6, part 1: sets the security headers on the raw response before routing, so every answer carries
 * them, including 401/403/404/429 and errors thrown before any interceptor runs. Removes `X-Powered-By`.
 */
@Injectable()
export class SecurityHeadersMiddleware implements NestMiddleware {
  constructor(@Inject(JWT_DEFENSE_OPTIONS) private readonly options: ResolvedJwtDefenseOptions) {}

  use(_request: IncomingMessage, response: ServerResponse, next: () => void): void {
    setBaseHeaders(rawResponse(response), this.options.headerSet);
    next();
  }
}

/** The layer's base header set, without `X-Powered-By`. */
export function setBaseHeaders(response: ServerResponse, headerSet: HeaderSet): void {
  response.removeHeader('x-powered-by');
  for (const [name, value] of headerSet) response.setHeader(name, value);
}
