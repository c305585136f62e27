import { Injectable, type ExecutionContext } from '@nestjs/common';
import { ThrottlerException, ThrottlerGuard, type ThrottlerLimitDetail } from '@nestjs/throttler';

/**
 * The stock throttler guard, with two changes: the client is `request.ip` (which the HTTP adapter derives
 * from `X-Forwarded-For` only through TRUST_PROXY), and every 429 carries a plain `Retry-After`.
 */
@Injectable()
export class DemoThrottlerGuard extends ThrottlerGuard {
  protected override async getTracker(request: Record<string, unknown>): Promise<string> {
    return String(request.ip ?? '');
  }

  protected override async throwThrottlingException(
    context: ExecutionContext,
    detail: ThrottlerLimitDetail,
  ): Promise<void> {
    // Express responses and Fastify replies both have header(name, value).
    const response = context.switchToHttp().getResponse<{ header(name: string, value: string): unknown }>();
    response.header('retry-after', String(Math.max(1, Math.ceil(detail.timeToBlockExpire))));
    throw new ThrottlerException();
  }
}
