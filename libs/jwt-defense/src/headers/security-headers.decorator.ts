import { Reflector } from '@nestjs/core';
import type { SecurityHeadersOptions } from './security-headers.options.js';

/**
 * Overrides the security headers of a controller or handler (e.g. a relaxed CSP for an HTML page, or a
 * `cacheControl` for a public, cacheable resource). Authenticated responses stay `no-store`.
 */
export const SecurityHeaders = Reflector.createDecorator<SecurityHeadersOptions>();
