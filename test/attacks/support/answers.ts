import type request from 'supertest';

/** Every answer, refusals included, carries the security headers and `no-store`, and no `X-Powered-By`. */
export function expectSecurityHeaders(res: request.Response): void {
  const headers = res.headers;
  expect({
    hsts: headers['strict-transport-security'],
    nosniff: headers['x-content-type-options'],
    frame: headers['x-frame-options'],
    csp: headers['content-security-policy'],
    referrer: headers['referrer-policy'],
    xss: headers['x-xss-protection'],
    cache: headers['cache-control'],
    poweredBy: headers['x-powered-by'],
  }).toEqual({
    hsts: expect.stringMatching(/^max-age=\d+/),
    nosniff: 'nosniff',
    frame: 'DENY',
    csp: expect.stringContaining("frame-ancestors 'none'"),
    referrer: 'no-referrer',
    xss: '0',
    cache: 'no-store',
    poweredBy: undefined,
  });
}

/** No piece of what the attacker sent (16 characters or more) comes back in the body or any header. */
export function expectNoEcho(res: request.Response, secret: string): void {
  const answer = `${res.text ?? ''}\n${Object.values(res.headers).join('\n')}`;
  const pieces = secret.split(/[\s.,"{}:]+/).filter((piece) => piece.length >= 16);
  for (const piece of pieces) {
    for (let at = 0; at + 16 <= piece.length; at += 16) expect(answer).not.toContain(piece.slice(at, at + 16));
  }
}
