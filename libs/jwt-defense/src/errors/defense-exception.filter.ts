import { Catch, HttpException, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { throwError, type Observable } from 'rxjs';
import { rawRequest } from '../common/http.js';
import { DefenseResponseHeaders } from '../headers/response-headers.js';
import { pipelineContextOf } from '../pipeline/pipeline-context.js';
import { DefenseStoreError } from '../store/defense-store.errors.js';
import { DEFENSE_ERROR_CODES, type DefenseErrorCode } from './defense-error-code.js';
import { asInvalidToken, DefenseStoreUnavailableException, defenseErrorBody } from './defense.exceptions.js';

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
 * refresh, an admin call) is the declared 503 `defense_store_unavailable` with `Retry-After`, never a 500. A token
 * that a service refused in a handler (`RefreshTokenService.refresh()`, `TokenService.verify()`: a
 * `TokenVerificationError`) is the 401 of its code with its `WWW-Authenticate` challenge, as in the pipeline.
 * Other unexpected errors become a logged 500 `internal_error`. Headers come from `DefenseResponseHeaders`.
 *
 * Other transports get the same body in their own shape: a microservice reply error, a WebSocket `exception`
 * event (what Nest's base filters send, with our `code`); GraphQL errors go back to the GraphQL layer, which
 * formats them.
 * @hideconstructor
 */
@Catch()
export class JwtDefenseExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('JwtDefense');

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly headers: DefenseResponseHeaders,
  ) {}

  catch(thrown: unknown, host: ArgumentsHost): void | Observable<never> {
    const type = host.getType<string>();
    if (type === 'graphql') throw thrown;
    const error = answerOf(thrown);
    const status = statusOf(error);
    // HttpException, WsException and RpcException (which has `getError`) are answers, not crashes.
    if (status >= 500 && !(error instanceof HttpException) && typeof (error as { getError?: unknown } | null)?.getError !== 'function') {
      this.logger.error(`Unhandled ${(error as Error)?.name ?? 'error'}`, (error as Error)?.stack);
    }
    if (type === 'rpc') return throwError(() => transportErrorBody(error, status));
    if (type === 'ws') return emitException(host.switchToWs().getClient(), transportErrorBody(error, status));
    if (type !== 'http') throw thrown;
    const http = host.switchToHttp();
    const response = http.getResponse<unknown>();
    const request = http.getRequest<unknown>();
    const context = request ? pipelineContextOf(rawRequest(request)) : undefined;
    this.headers.error(response, error, context?.route, context?.limits, context);
    this.adapterHost.httpAdapter.reply(response, defenseErrorBody(status, codeOf(error, status)), status);
  }
}

/** The answer an error thrown by the module's services stands for: a store failure is a 503, a refused token a 401. */
function answerOf(thrown: unknown): unknown {
  if (thrown instanceof DefenseStoreError) return new DefenseStoreUnavailableException(thrown);
  return asInvalidToken(thrown);
}

/**
 * A WebSocket or microservice error body: what the transport's own error carried (a `WsException` or
 * `RpcException` with an object), or ours, `{ status: 'error', statusCode, code, message }`.
 */
function transportErrorBody(error: unknown, status: number): object {
  const own = (error as { getError?: () => unknown } | null)?.getError?.();
  if (typeof own === 'object' && own !== null) return own;
  if (typeof own === 'string') return { status: 'error', message: own };
  const { statusCode, code, message } = defenseErrorBody(status, codeOf(error, status));
  return { status: 'error', statusCode, code, message };
}

/** socket.io clients get an `exception` event; native WebSocket clients a `{ event, data }` message (as Nest does). */
function emitException(client: { readyState?: unknown; send?: (data: string) => void; emit?: (event: string, data: unknown) => void } | undefined, body: object): void {
  if (typeof client?.readyState === 'number' && typeof client.send === 'function') client.send(JSON.stringify({ event: 'exception', data: body }));
  else client?.emit?.('exception', body);
}
