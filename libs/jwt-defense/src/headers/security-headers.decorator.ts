import { Reflector } from '@nestjs/core';
import type { SecurityHeadersOverrides } from './security-headers.options.js';

/**
 * Overrides the security headers of a controller or handler (e.g. a relaxed CSP for an HTML page, or a
 * `cacheControl` for a public, cacheable resource). Authenticated responses and errors stay `no-store`.
 */
export const SecurityHeaders = Reflector.createDecorator<SecurityHeadersOverrides>();
