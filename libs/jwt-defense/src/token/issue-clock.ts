/**
 * Where `TokenService.issue()` reads "now". In the module: the store's clock (`EpochClock`: Redis `TIME`), the one
 * revocation epochs and logins are dated with, so a token minted right after a revoke-all on another instance is not
 * refused for that instance's clock skew; standalone: the service's `DefenseClock`. `TokenService` itself reads no
 * clock but this one and does no I/O: the module's own callers read the store's clock and call `issueAt`. Internal.
 */
export abstract class IssueClock {
  abstract nowMs(): number | Promise<number>;
}
