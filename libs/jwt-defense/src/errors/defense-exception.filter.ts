import { Catch, HttpException, Inject, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { rawResponse } from '../common/http.js';
import { JWT_DEFENSE_OPTIONS } from '../jwt-defense.tokens.js';
import type { ResolvedJwtDefenseOptions } from '../jwt-defense.options.js';
import { DEFENSE_ERROR_CODES, type DefenseErrorCode } from './defense-error-code.js';
import { defenseErrorBody } from './defense.exceptions.js';

const CODE_BY_STATUS: Record<number, DefenseErrorCode> = {
  400: 'invalid_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
  501: 'not_implemented',
  503: 'service_unavailable',
};

const KNOWN_CODES: ReadonlySet<string> = new Set(DEFENSE_ERROR_CODES);

function statusOf(error: unknown): number {
  if (error instanceof HttpException) return error.getStatus();
  // Body-parser (Express) and Fastify client errors carry a 4xx status of their own.
  const candidate = error as { status?: unknown; statusCode?: unknown } | null;
  const status = candidate?.statusCode ?? candidate?.status;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : 500;
}

function codeOf(error: unknown, status: number): DefenseErrorCode {
  if (error instanceof HttpException) {
    const body = error.getResponse() as { code?: unknown };
    if (typeof body === 'object' && typeof body.code === 'string' && KNOWN_CODES.has(body.code)) {
      return body.code as DefenseErrorCode;
    }
  }
  return CODE_BY_STATUS[status] ?? (status >= 500 ? 'internal_error' : 'request_error');
}

/**
 * Gives every error the `{statusCode, error, message, code}` body with a fixed message per code: no
 * stack, no validation detail, nothing of the request echoed back. Unexpected errors become a logged 500.
 */
@Catch()
export class JwtDefenseExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('JwtDefense');

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    @Inject(JWT_DEFENSE_OPTIONS) private readonly options: ResolvedJwtDefenseOptions,
  ) {}

  catch(error: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw error;
    const status = statusOf(error);
    if (status >= 500 && !(error instanceof HttpException)) {
      this.logger.error(`Unhandled ${(error as Error)?.name ?? 'error'}`, (error as Error)?.stack);
    }
    const response = host.switchToHttp().getResponse();
    const raw = rawResponse(response);
    // Every error gets the security headers: those raised before any guard or middleware ran (Express's body
    // parser refusing malformed JSON, a 404 without a route), and all of them when the guard sets the headers.
    if (!raw.headersSent) {
      raw.removeHeader('x-powered-by');
      for (const [name, value] of this.options.headerSet) {
        if (!raw.hasHeader(name)) raw.setHeader(name, value);
      }
    }
    this.adapterHost.httpAdapter.reply(response, defenseErrorBody(status, codeOf(error, status)), status);
  }
}
