import { Catch, HttpException, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { rawRequest } from '../common/http.js';
import { DefenseResponseHeaders } from '../headers/response-headers.js';
import { contextOf } from '../pipeline/pipeline-context.js';
import { DefenseStoreError } from '../store/defense-store.errors.js';
import { DEFENSE_ERROR_CODES, type DefenseErrorCode } from './defense-error-code.js';
import { DefenseStoreUnavailableException, defenseErrorBody } from './defense.exceptions.js';

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
 * Gives every HTTP error the `{statusCode, error, message, code}` body with a fixed message per code: no
 * stack, no validation detail, nothing of the request echoed back. A store failure anywhere (a login, a
 * refresh, an admin call) is the declared 503 `defense_store_unavailable` with `Retry-After`, never a 500.
 * Other unexpected errors become a logged 500 `internal_error`. Headers come from `DefenseResponseHeaders`.
 */
@Catch()
export class JwtDefenseExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('JwtDefense');

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly headers: DefenseResponseHeaders,
  ) {}

  catch(thrown: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw thrown;
    const error = thrown instanceof DefenseStoreError ? new DefenseStoreUnavailableException(thrown) : thrown;
    const status = statusOf(error);
    if (status >= 500 && !(error instanceof HttpException)) {
      this.logger.error(`Unhandled ${(error as Error)?.name ?? 'error'}`, (error as Error)?.stack);
    }
    const http = host.switchToHttp();
    const response = http.getResponse<unknown>();
    const request = http.getRequest<unknown>();
    const context = request ? contextOf(rawRequest(request)) : undefined;
    this.headers.error(response, error, context?.route, context?.limits, context);
    this.adapterHost.httpAdapter.reply(response, defenseErrorBody(status, codeOf(error, status)), status);
  }
}
