import { Inject, Injectable, type NestMiddleware } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { rawResponse } from '../common/http.js';
import { JWT_DEFENSE_OPTIONS } from '../jwt-defense.tokens.js';
import type { ResolvedJwtDefenseOptions } from '../jwt-defense.options.js';

/**
 * Layer 6, part 1: sets the security headers on the raw response before routing, so every answer carries
 * them, including 401/403/404/429 and errors thrown before any interceptor runs. Removes `X-Powered-By`.
 */
@Injectable()
export class SecurityHeadersMiddleware implements NestMiddleware {
  constructor(@Inject(JWT_DEFENSE_OPTIONS) private readonly options: ResolvedJwtDefenseOptions) {}

  use(_request: IncomingMessage, response: ServerResponse, next: () => void): void {
    const raw = rawResponse(response);
    raw.removeHeader('x-powered-by');
    for (const [name, value] of this.options.headerSet) raw.setHeader(name, value);
    next();
  }
}
