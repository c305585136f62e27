import type { IncomingMessage, ServerResponse } from 'node:http';
import { Injectable, Logger } from '@nestjs/common';
import { ApplicationConfig, DiscoveryService, HttpAdapterHost } from '@nestjs/core';
import { rawRequest } from '../common/http.js';
import { InvalidRequestException, JwtDefenseException, TransportNotConfiguredException } from '../errors/defense.exceptions.js';
import { DefenseResponseHeaders } from '../headers/response-headers.js';
import { pipelineContextOf } from '../pipeline/pipeline-context.js';
import { RequestPipeline } from '../pipeline/request-pipeline.js';
import { PolicyResolver, type RoutePolicy } from '../policy/policy.resolver.js';
import { rememberUpgradeSocket } from './transport-context.js';
import { graphqlRequestErrorBody } from './transport-errors.js';
import { TransportsOptions } from './transports.options.js';

/** `@nestjs/graphql`'s token of `GraphQLModule` options (`GRAPHQL_MODULE_OPTIONS`): a string, so nothing here imports that optional peer. */
const GRAPHQL_MODULE_OPTIONS = 'GqlModuleOptions';

/** What the names of an introspection field look like in a document: `__schema` or `__type`, never `__typename`. */
const INTROSPECTION_NAME = /__(?:schema|type)(?![_0-9A-Za-z])/;

type GraphqlJs = typeof import('graphql');
type Operation = { query?: unknown; extensions?: unknown };
type ExpressRequest = IncomingMessage & { body?: unknown; originalUrl?: string };
type FastifyRequestLike = { raw: IncomingMessage; body?: unknown; ws?: boolean };
type FastifyReplyLike = { raw: ServerResponse; code(status: number): FastifyReplyLike; type(value: string): FastifyReplyLike; send(body: unknown): FastifyReplyLike };
type FastifyHook = (request: FastifyRequestLike, reply: FastifyReplyLike) => Promise<unknown>;
type FastifyRouteOptions = { url: string; preValidation?: FastifyHook | FastifyHook[]; wsHandler?: (this: unknown, socket: object, request: FastifyRequestLike) => unknown };
type AdapterLike = { getType(): string; getInstance(): unknown; use(path: string, handler: (req: ExpressRequest, res: ServerResponse, next: (error?: unknown) => void) => void): unknown };

/** `graphql`, `/graphql/` → `/graphql`, as `@nestjs/graphql` normalizes a driver's path. */
function normalizePath(path: string): string {
  return `/${path.replace(/^\/+|\/+$/g, '')}`;
}

/**
 * Every HTTP request to the GraphQL endpoint, whatever resolvers it runs (`{ __typename }` and introspection run
 * none of ours): the per-IP limit and the security headers, once per HTTP request (batches, `GET ?query=`
 * included), before the driver sees it; then the resolvers' guard runs share this pass (see `RequestPipeline.run`).
 * An operation that introspects the schema (`__schema`, `__type`, under any alias or fragment) needs a token that
 * passes the pipeline unless `transports.graphql.publicIntrospection`, and may not be registered as a persisted
 * query (a hash alone would later run it without this check). Under `transports.graphql: 'deny'` every request is
 * refused with 403 `forbidden`.
 *
 * Installed on Express as a middleware at the driver's path (after the body parsers, before the driver's own
 * middleware, with Express's matching of that path), from the module's `configure`; on Fastify as a `preValidation`
 * hook of the driver's routes (the body is parsed there), and it keeps each subscription WebSocket Fastify upgrades
 * (Mercurius), so the guard can watch it.
 */
@Injectable()
export class GraphqlEndpoint {
  private readonly logger = new Logger('JwtDefense');
  private paths?: readonly string[];
  private readonly routes = new Map<string, { open: RoutePolicy; introspection: RoutePolicy }>();
  private graphql?: Promise<GraphqlJs>;

  constructor(
    private readonly pipeline: RequestPipeline,
    private readonly policies: PolicyResolver,
    private readonly headers: DefenseResponseHeaders,
    private readonly options: TransportsOptions,
    private readonly discovery: DiscoveryService,
    private readonly config: ApplicationConfig,
    private readonly adapterHost: HttpAdapterHost,
  ) {
    const adapter = this.adapter();
    // Fastify: a route takes the hooks in place when it is added; the driver adds its routes later, in its module's init.
    if (adapter?.getType() === 'fastify' && this.options.graphql.mode !== 'allow') {
      (adapter.getInstance() as { addHook(name: 'onRoute', hook: (route: FastifyRouteOptions) => void): unknown }).addHook('onRoute', (route) => this.onFastifyRoute(route));
    }
  }

  /** Express: called from the module's `configure`, after the body parsers, before the driver's middleware. */
  installOnExpress(): void {
    const adapter = this.adapter();
    if (adapter?.getType() !== 'express' || this.options.graphql.mode === 'allow') return;
    for (const path of this.endpointPaths()) {
      adapter.use(path, (req, res, next) => {
        this.handle(path, req, res).then((answered) => answered || next(), next);
      });
    }
  }

  private onFastifyRoute(route: FastifyRouteOptions): void {
    if (!this.endpointPaths().includes(normalizePath(route.url))) return;
    const path = normalizePath(route.url);
    const hook: FastifyHook = async (request, reply) => {
      // A WebSocket upgrade: its operations are checked by the guard, on the socket's token.
      if (request.ws) return undefined;
      return (await this.handle(path, request, reply)) ? reply : undefined;
    };
    route.preValidation = [hook, ...(route.preValidation === undefined ? [] : Array.isArray(route.preValidation) ? route.preValidation : [route.preValidation])];
    const wsHandler = route.wsHandler;
    if (wsHandler) {
      route.wsHandler = function (this: unknown, socket, request) {
        rememberUpgradeSocket(request.raw, socket);
        return wsHandler.call(this, socket, request);
      };
    }
  }

  /** Resolves `true` when it answered the request (refused), `false` when the driver may go on. */
  private async handle(path: string, httpRequest: ExpressRequest | FastifyRequestLike, httpResponse: ServerResponse | FastifyReplyLike): Promise<boolean> {
    const routes = this.routesFor(path);
    try {
      if (this.options.graphql.mode === 'deny') throw new TransportNotConfiguredException('graphql');
      const introspection = this.options.graphql.publicIntrospection ? 'none' : await this.introspection(httpRequest);
      await this.pipeline.run(introspection === 'token' ? routes.introspection : routes.open, httpRequest, httpResponse);
      if (introspection === 'persisted') throw new InvalidRequestException();
      return false;
    } catch (error) {
      if (!(error instanceof JwtDefenseException)) this.logger.error(`the GraphQL endpoint could not check a request: ${(error as Error)?.message}`, (error as Error)?.stack);
      const context = pipelineContextOf(rawRequest(httpRequest));
      this.headers.error(httpResponse, error, context?.route ?? routes.open, context?.limits, context);
      const { status, body } = graphqlRequestErrorBody(error);
      send(httpResponse, status, body);
      return true;
    }
  }

  /**
   * Whether the request's operations introspect the schema: `none`, `token` (one does: a token is needed), or
   * `persisted` (one does and asks to be registered as a persisted query: refused).
   */
  private async introspection(httpRequest: ExpressRequest | FastifyRequestLike): Promise<'none' | 'token' | 'persisted'> {
    const raw = rawRequest(httpRequest) as ExpressRequest;
    const operations: Operation[] = [];
    const body = httpRequest.body;
    if (Array.isArray(body)) operations.push(...(body as Operation[]));
    else if (body !== null && typeof body === 'object') operations.push(body as Operation);
    else if (typeof body === 'string') operations.push({ query: body });
    const search = new URL(raw.originalUrl ?? raw.url ?? '/', 'http://endpoint').searchParams;
    for (const query of search.getAll('query')) operations.push({ query, extensions: search.get('extensions') ?? undefined });
    let verdict: 'none' | 'token' = 'none';
    for (const operation of operations) {
      if (operation === null || typeof operation !== 'object' || typeof operation.query !== 'string' || !INTROSPECTION_NAME.test(operation.query)) continue;
      if (!introspects(operation.query, await this.graphqlJs())) continue;
      const extensions = operation.extensions;
      const persisted = typeof extensions === 'string' ? extensions.includes('persistedQuery') : extensions !== null && typeof extensions === 'object' && 'persistedQuery' in extensions;
      if (persisted) return 'persisted';
      verdict = 'token';
    }
    return verdict;
  }

  private graphqlJs(): Promise<GraphqlJs> {
    return (this.graphql ??= import('graphql'));
  }

  private routesFor(path: string): { open: RoutePolicy; introspection: RoutePolicy } {
    let routes = this.routes.get(path);
    if (!routes) {
      // The endpoint as a surface of its own, named by its path: the module's defaults (per-IP limit, headers, fail mode).
      const endpoint = this.policies.forOptions(path, {});
      routes = { open: { ...endpoint, isPublic: true }, introspection: { ...endpoint, isPublic: false } };
      this.routes.set(path, routes);
    }
    return routes;
  }

  /** The paths of the app's GraphQL endpoints, as the drivers register them (`path`, default `/graphql`; `useGlobalPrefix`). */
  private endpointPaths(): readonly string[] {
    if (this.paths?.length) return this.paths;
    const prefix = this.config.getGlobalPrefix();
    const paths = new Set<string>();
    for (const wrapper of this.discovery.getProviders()) {
      if (wrapper.token !== GRAPHQL_MODULE_OPTIONS || !wrapper.instance) continue;
      const options = wrapper.instance as { path?: string; useGlobalPrefix?: boolean };
      const path = normalizePath(options.path ?? '/graphql');
      paths.add(prefix && options.useGlobalPrefix ? normalizePath(`${normalizePath(prefix)}${path}`) : path);
    }
    // Kept once found (a route added before the GraphQL module exists asks again).
    return (this.paths = [...paths]);
  }

  private adapter(): AdapterLike | undefined {
    return this.adapterHost.httpAdapter as unknown as AdapterLike | undefined;
  }
}

/** True when a document selects `__schema` or `__type` anywhere (aliases and fragments included); one that does not parse counts. */
function introspects(query: string, graphql: GraphqlJs): boolean {
  let document;
  try {
    document = graphql.parse(query, { noLocation: true });
  } catch {
    return true;
  }
  let found = false;
  graphql.visit(document, {
    Field(node) {
      if (node.name.value !== '__schema' && node.name.value !== '__type') return undefined;
      found = true;
      return graphql.BREAK;
    },
  });
  return found;
}

function send(response: ServerResponse | FastifyReplyLike, status: number, body: object): void {
  if ('raw' in response && typeof (response as FastifyReplyLike).code === 'function') {
    (response as FastifyReplyLike).code(status).type('application/json; charset=utf-8').send(body);
    return;
  }
  const raw = response as ServerResponse;
  raw.statusCode = status;
  raw.setHeader('content-type', 'application/json; charset=utf-8');
  raw.end(JSON.stringify(body));
}
