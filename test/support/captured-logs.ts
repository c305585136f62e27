import type { LoggerService } from '@nestjs/common';

/** An app's logger that keeps its warn and error lines (`NestFactory.create(..., { logger })`), for tests of what is logged. */
export class CapturedLogs implements LoggerService {
  readonly warnings: string[] = [];

  log(): void {}

  warn(message: unknown): void {
    this.warnings.push(String(message));
  }

  error(message: unknown): void {
    this.warnings.push(String(message));
  }

  /** The first warn or error line matching `pattern`, waiting up to `timeoutMs` for one logged in the background. */
  async waitFor(pattern: RegExp, timeoutMs = 5000): Promise<string> {
    for (const deadline = Date.now() + timeoutMs; ; await new Promise((resolve) => setTimeout(resolve, 20))) {
      const line = this.warnings.find((warning) => pattern.test(warning));
      if (line !== undefined) return line;
      if (Date.now() > deadline) throw new Error(`no log line matches ${pattern}; logged: ${JSON.stringify(this.warnings)}`);
    }
  }
}
