import type { INestApplication } from '@nestjs/common';

/** Default deepest nesting of arrays and objects accepted in a JSON body. */
export const DEFAULT_MAX_JSON_DEPTH = 32;

/**
 * True when a JSON text nests arrays and objects deeper than `maxDepth` (brackets inside strings do not count).
 * Linear, no allocation, and it stops at the first level too deep: a hostile body costs a scan, never a parse.
 */
export function jsonTooDeep(text: string | Buffer, maxDepth: number): boolean {
  const code = typeof text === 'string' ? (i: number) => text.charCodeAt(i) : (i: number) => text[i];
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = code(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > maxDepth) return true;
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) {
      depth--;
    }
  }
  return false;
}

function tooDeepError(): Error {
  // A 4xx status: the exception filter answers 400 `invalid_request` with the standard body and headers.
  return Object.assign(new Error('JSON body nested too deeply'), { status: 400, statusCode: 400, expose: false, type: 'entity.too.deep' });
}

type Done = (error: Error | null, value?: unknown) => void;
type FastifyLike = { getDefaultJsonParser(onProto: 'error', onConstructor: 'error'): (request: unknown, body: Buffer, done: Done) => void };
type WithBodyParser = INestApplication & { useBodyParser(type: string | Array<string | RegExp>, ...args: unknown[]): unknown };

/** JSON with a structured syntax suffix (RFC 6839), e.g. `application/merge-patch+json`, parameters allowed. */
const SUFFIXED_JSON = /^application\/[a-z0-9!#$&^_.-]+\+json\s*(?:;|$)/i;

/**
 * Refuses JSON bodies nested deeper than `maxDepth` (default 32) at parse time, with 400 `invalid_request`,
 * before they reach `JSON.parse`, a `ValidationPipe` or class-transformer (which overflows its stack on a
 * few thousand levels: a 500 and a blocked event loop from one unauthenticated request). Call it on the app
 * before `app.init()` / `app.listen()`, on Express or Fastify:
 *
 * ```ts
 * const app = await NestFactory.create(AppModule);
 * limitJsonDepth(app);
 * ```
 *
 * It installs the JSON body parser through `app.useBodyParser` (Nest then skips its default one): on Express with a
 * `verify` step, on Fastify around Fastify's own JSON parser (prototype-poisoning protection kept). It parses
 * `application/json` and the `+json` types (`application/merge-patch+json`, `application/vnd.api+json`...).
 */
export function limitJsonDepth(app: INestApplication, options: { maxDepth?: number } = {}): void {
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_JSON_DEPTH;
  if (!Number.isInteger(maxDepth) || maxDepth < 1) throw new TypeError('jwt-defense: limitJsonDepth: maxDepth must be a positive integer');
  const adapter = app.getHttpAdapter();
  const withParser = app as WithBodyParser;
  if (adapter.getType() === 'fastify') {
    // Nest registers Fastify's JSON parser at init unless one was given through useBodyParser: this is it.
    const parse = (adapter.getInstance() as FastifyLike).getDefaultJsonParser('error', 'error');
    withParser.useBodyParser(['application/json', SUFFIXED_JSON], {}, (request: unknown, body: Buffer, done: Done) => {
      if (jsonTooDeep(body, maxDepth)) done(tooDeepError());
      else parse(request, body, done);
    });
    return;
  }
  // Express: Nest skips its default JSON parser when one is already installed.
  withParser.useBodyParser('json', {
    type: ['application/json', 'application/*+json'],
    verify: (_request: unknown, _response: unknown, body: Buffer) => {
      if (jsonTooDeep(body, maxDepth)) throw tooDeepError();
    },
  });
}
