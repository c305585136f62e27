import { HttpException } from '@nestjs/common';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { JwtDefenseErrors } from '@jwt-defense/core';
import { buildErrorCodesTable, END, START } from '../scripts/error-codes-reference.mjs';

// The error-code table of docs/USAGE.md ("## Error codes") is generated from the closed set's JSDoc (npm run docs:errors). This
// keeps it honest: the table is what the generator makes today, every code of the closed set (read at run time from
// the export users switch on, not from the sources the generator parses) has its row, and each row's status is the
// status the module's own exception for that code answers with.

const root = join(__dirname, '..');
const generated = buildErrorCodesTable(root);
const usage = readFileSync(join(root, 'docs/USAGE.md'), 'utf8');
const section = usage.slice(usage.indexOf('## Error codes'));
const table = section.slice(section.indexOf(START), section.indexOf(END) + END.length);
/** code → status, from the table as committed. */
const committed = new Map(
  [...table.matchAll(/^\| `([a-z_]+)` \| (\S+) \|/gm)].map(([, code, status]) => [code, status] as const),
);

describe("docs/USAGE.md's error-code table", () => {
  it('is what npm run docs:errors generates from DEFENSE_ERROR_CODES today', () => {
    expect(generated.problems).toEqual([]);
    if (table !== generated.markdown) throw new Error("docs/USAGE.md's error-code table is stale: run npm run docs:errors and commit it");
  });

  it('has a row for every code of the closed set, and no other', () => {
    expect([...committed.keys()].sort()).toEqual([...JwtDefenseErrors.DEFENSE_ERROR_CODES].sort());
    expect(committed.get('issuer_unavailable')).toBe('503');
  });

  it("gives each code the status of the module's own exception for it", () => {
    const exceptions: HttpException[] = [
      new JwtDefenseErrors.MissingTokenException(),
      new JwtDefenseErrors.InvalidRequestException(),
      new JwtDefenseErrors.SubjectRequiredException(),
      new JwtDefenseErrors.StepUpRequiredException(),
      new JwtDefenseErrors.RiskDeniedException(),
      new JwtDefenseErrors.UseDpopNonceException('nonce'),
      new JwtDefenseErrors.LockdownException(),
      new JwtDefenseErrors.SigningKeyActiveException('kid'),
      new JwtDefenseErrors.KeyRingFullException(),
      new JwtDefenseErrors.InsufficientScopeException(),
      new JwtDefenseErrors.DefenseStoreUnavailableException(),
      new JwtDefenseErrors.IssuerUnavailableException(),
      new JwtDefenseErrors.RateLimitedException(1),
    ];
    const seen = exceptions.map((exception) => {
      const { code } = exception.getResponse() as { code: string };
      return [code, committed.get(code)];
    });
    expect(seen).toEqual(exceptions.map((exception) => [(exception.getResponse() as { code: string }).code, String(exception.getStatus())]));
  });
});
