import { Injectable, UnsupportedMediaTypeException, type CanActivate, type ExecutionContext } from '@nestjs/common';

const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);
/** `application/json`, or a type with the `+json` structured syntax suffix (RFC 6839); parameters (charset) aside. */
const JSON_MEDIA_TYPE = /^application\/(?:json|[a-z0-9!#$&^_.-]+\+json)$/;

/** Whether a `Content-Type` value names JSON. */
export function isJsonMediaType(contentType: string): boolean {
  return JSON_MEDIA_TYPE.test(contentType.split(';', 1)[0].trim().toLowerCase());
}

type HttpRequestLike = { method: string; headers: Record<string, string | string[] | undefined> };

/**
 * JSON bodies only: an unsafe request (POST, PUT, PATCH, DELETE) whose `Content-Type` is anything else (a form,
 * multipart, text/plain: what a cross-site HTML form can send without a CORS preflight), or that has a body without
 * one, is refused with 415 `unsupported_media_type` before its handler runs (no login attempted, no session created).
 * A request with neither a body nor a `Content-Type` (a logout from `fetch`) passes. The operations module's admin
 * routes have it; `@UseGuards(JsonOnlyGuard)` on a login route keeps cross-site forms out of it.
 */
@Injectable()
export class JsonOnlyGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    // It checks HTTP bodies: on a gateway, resolver or message handler it has nothing to check, so it is a mistake.
    if (context.getType() !== 'http') throw new TypeError(`jwt-defense: JsonOnlyGuard checks HTTP request bodies; it guards a ${context.getType()} handler here: use it on HTTP routes only`);
    const { method, headers } = context.switchToHttp().getRequest<HttpRequestLike>();
    if (SAFE_METHODS.has(method.toUpperCase())) return true;
    const contentType = headers['content-type'];
    if (contentType === undefined ? hasBody(headers) : typeof contentType !== 'string' || !isJsonMediaType(contentType)) {
      throw new UnsupportedMediaTypeException();
    }
    return true;
  }
}

function hasBody(headers: HttpRequestLike['headers']): boolean {
  const length = headers['content-length'];
  return headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}
