import { Injectable } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';

type ErrorHandler = (error: unknown, request: unknown, reply: { send(payload: unknown): unknown }) => unknown;
type FastifyRouteOptions = { errorHandler?: ErrorHandler };
type FastifyInstanceLike = { addHook(name: 'onRoute', hook: (route: FastifyRouteOptions) => void): unknown };
type AdapterLike = { getType(): string; getInstance(): unknown; setErrorHandler(handler: ErrorHandler, ...rest: unknown[]): unknown };

/**
 * On Fastify, a route keeps the error handler in place when Fastify builds it. Nest registers its routes, then runs
 * the modules' init hooks, then sets its error handler (the exception filters); a module that loads a Fastify plugin
 * in its init hook (`@nestjs/mercurius` does) makes Fastify build the routes registered so far, with Fastify's
 * default handler: their framework errors (a malformed JSON body, an unsupported media type) would get Fastify's
 * own body, without our code and headers. This gives every route an error handler that calls Nest's whenever it is
 * set. Nothing happens on Express.
 */
@Injectable()
export class FastifyRouteErrors {
  constructor(adapterHost: HttpAdapterHost) {
    const adapter = adapterHost.httpAdapter as unknown as AdapterLike | undefined;
    if (adapter?.getType() !== 'fastify') return;
    let nestHandler: ErrorHandler | undefined;
    const setErrorHandler = adapter.setErrorHandler.bind(adapter);
    adapter.setErrorHandler = (handler, ...rest) => {
      nestHandler = handler;
      return setErrorHandler(handler, ...rest);
    };
    (adapter.getInstance() as FastifyInstanceLike).addHook('onRoute', (route) => {
      route.errorHandler ??= (error, request, reply) => (nestHandler ? nestHandler(error, request, reply) : reply.send(error));
    });
  }
}
