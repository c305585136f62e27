import type { FastifyReply, FastifyRequest } from 'fastify';
import { resolveOptions } from '../common/options.js';
import { buildHeaderSet, SecurityHeadersOptions, type SecurityHeadersOverrides } from '../headers/security-headers.options.js';
import { defenseErrorBody } from './defense.exceptions.js';

/**
 * Fastify's router rejects some requests before any hook, guard or filter runs (a malformed URL, an over-long
 * path parameter) and answers with its own body, which echoes the URL, without security headers. Pass this as
 * `frameworkErrors` to `new FastifyAdapter({ ... })`: those requests get a 400 `invalid_request` with the
 * standard body and the security headers. Give it the same `securityHeaders` options as the module.
 */
export function fastifyFrameworkErrors(securityHeaders: SecurityHeadersOverrides | false = {}) {
  const headers = securityHeaders === false ? {} : Object.fromEntries(buildHeaderSet(resolveOptions(SecurityHeadersOptions, securityHeaders, 'securityHeaders')));
  const body = JSON.stringify(defenseErrorBody(400, 'invalid_request'));
  return (_error: Error, _request: FastifyRequest, reply: FastifyReply): void => {
    reply.headers(headers).code(400).header('content-type', 'application/json; charset=utf-8').send(body);
  };
}
