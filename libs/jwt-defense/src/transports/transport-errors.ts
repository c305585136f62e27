import { DEFENSE_ERROR_MESSAGES } from '../errors/defense-error-code.js';
import { JwtDefenseException } from '../errors/defense.exceptions.js';

/** The body every transport's error carries: our stable code, a fixed message, the HTTP status it stands for. */
function body(error: JwtDefenseException) {
  return { status: 'error', statusCode: error.getStatus(), code: error.code, message: DEFENSE_ERROR_MESSAGES[error.code] };
}

/**
 * The answer to an HTTP request the GraphQL endpoint refused before any operation ran: a GraphQL response with one
 * error whose `extensions.code` is the code a REST route would answer (the HTTP status is the error's). Anything but
 * our refusal is `internal_error`.
 */
export function graphqlRequestErrorBody(error: unknown): { status: number; body: { errors: Array<{ message: string; extensions: { code: string; statusCode: number } }> } } {
  const { code, statusCode, message } =
    error instanceof JwtDefenseException ? body(error) : { code: 'internal_error' as const, statusCode: 500, message: DEFENSE_ERROR_MESSAGES.internal_error };
  return { status: statusCode, body: { errors: [{ message, extensions: { code, statusCode } }] } };
}

type Constructor = new (...args: never[]) => Error;

/**
 * Turns a refusal into the error each transport understands. The error classes come from optional peers
 * (`graphql`, `@nestjs/websockets`, `@nestjs/microservices`), loaded once, when a transport first needs them: an app
 * that uses a transport has its package installed, and the others never load it.
 */
export class TransportErrors {
  private readonly loaded = new Map<string, Promise<Constructor>>();

  /** A GraphQL error whose `extensions.code` is the code a REST route would answer (no token content, no stack). */
  async graphql(error: JwtDefenseException): Promise<Error> {
    const GraphQLError = (await this.load('graphql', 'GraphQLError')) as unknown as new (message: string, options: object) => Error;
    const { code, statusCode, message } = body(error);
    return new GraphQLError(message, { extensions: { code, statusCode, http: { status: statusCode } } });
  }

  /** A `WsException` the gateway sends to the client as its `exception` event: `{ status, statusCode, code, message }`. */
  async ws(error: JwtDefenseException): Promise<Error> {
    const WsException = (await this.load('@nestjs/websockets', 'WsException')) as unknown as new (error: object) => Error;
    return new WsException(body(error));
  }

  /** An `RpcException` the microservice client receives: `{ status, statusCode, code, message }`. */
  async rpc(error: JwtDefenseException): Promise<Error> {
    const RpcException = (await this.load('@nestjs/microservices', 'RpcException')) as unknown as new (error: object) => Error;
    return new RpcException(body(error));
  }

  private load(specifier: string, name: string): Promise<Constructor> {
    let pending = this.loaded.get(specifier);
    if (!pending) {
      pending = import(specifier).then((module: Record<string, unknown>) => (module[name] ?? (module.default as Record<string, unknown>)?.[name]) as Constructor);
      this.loaded.set(specifier, pending);
    }
    return pending;
  }
}
