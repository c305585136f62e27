import fc from 'fast-check';
import { externalSubjectKey, hasControlCharacter, subjectKey, userTag } from './token-ids.js';
import { checkOwnSubject } from './token.service.js';

const OWN = 'https://api.example.com';

/** Pieces that make look-alikes likely: issuers, the old separator (a space), the new one, other controls. */
const piece = fc.constantFrom('https://idp.example.com', 'https://idp.example.com/', OWN, ' ', '\u001f', '\u001e', '\u0000', '\u0085', 'bob', 'b', '/', ':');
const text = fc.array(piece, { minLength: 1, maxLength: 6 }).map((parts) => parts.join(''));
/** An issuer as the options accept it: no control character (refused at boot). */
const issuer = fc.oneof(fc.constant(OWN), fc.constant('https://idp.example.com'), text.filter((value) => !hasControlCharacter(value)));
/** A principal as verification lets it through: this module's subjects without a control character. */
const principal = fc
  .record({ iss: issuer, sub: text })
  .filter(({ iss, sub }) => iss !== OWN || !hasControlCharacter(sub));

describe('subjectKey: one key per (issuer, subject)', () => {
  it('two principals share a key only when they are the same principal (5000 runs of look-alikes)', () => {
    fc.assert(
      fc.property(principal, principal, (a, b) => {
        const same = a.iss === b.iss && a.sub === b.sub;
        expect(subjectKey(a.iss, a.sub, OWN) === subjectKey(b.iss, b.sub, OWN)).toBe(same);
      }),
      { numRuns: 5000 },
    );
  });

  it("an external user's key, or its old spelling `<iss> <sub>`, is never reached by this module's own subject", () => {
    fc.assert(
      fc.property(issuer.filter((iss) => iss !== OWN), text, (iss, sub) => {
        const key = externalSubjectKey(iss, sub);
        // The own subject that would spell it cannot exist: it holds the separator.
        expect(() => checkOwnSubject(key)).toThrow(TypeError);
        // The old spelling is a legal own subject, and another user.
        expect(subjectKey(OWN, `${iss} ${sub}`, OWN)).not.toBe(key);
      }),
    );
  });

  it("keeps this module's own users on their bare subject (their stored state stays), and their tag", () => {
    expect(subjectKey(OWN, 'alice', OWN)).toBe('alice');
    expect(userTag(subjectKey(OWN, 'alice', OWN))).toBe(userTag('alice'));
    expect(subjectKey('https://idp.example.com', 'alice', OWN)).toBe('https://idp.example.com\u001falice');
  });
});
