// `@jwt-defense/core/store`: for authors of a custom store (`store: { type: 'custom', store }`) and for code that injects
// one port of the store. The ports (each an interface and a `Symbol` of the same name, for `@Inject(RevocationStore)`)
// and the types of their arguments; the embedded memory store; and the contract suite a store must pass, to run in your
// own Jest. The per-request `check` runs the layers' parts of the ONE store call, whose types are internal in this
// version: a custom store answers `check` by delegating it, with the state it reads, to a `MemoryDefenseStore` or a
// `RedisDefenseStore`, or, keeping that state in a memory store's spaces, with `runMemoryCheck` (the built-in parts'
// memory twins) over those spaces or a view of its own over them (docs/MIGRATING.md). Throw
// `JwtDefenseErrors.DefenseStoreError` when the store cannot answer.
export {
  DefenseStore,
  RequestCheckStore,
  RateLimitStore,
  RevocationStore,
  GlobalStateStore,
  KeyRingStore,
  SessionStore,
  ContextStore,
  EventStore,
} from './store/defense-store.ports.js';
export type {
  AnomalyCount,
  AnomalyResult,
  CleanupReport,
  DeclaredIssuers,
  DefenseCheckRequest,
  DefenseCheckResult,
  GlobalDefenseState,
  KeyRingLimits,
  KeyRotationOutcome,
  LockdownState,
  StoredSigningKey,
  RateLimitHit,
  RefreshSessionRecord,
  RevocationRecord,
  RiskLearning,
  RiskProfile,
  RiskRead,
  RotateConditions,
  RotateOutcome,
  SessionLimits,
  StoreMaintenance,
  UserRateLimitRequest,
} from './store/defense-store.ports.js';
export type { RateLimitResult } from './throttling/rate-limit.js';
export { MemoryDefenseStore } from './store/memory/memory-defense.store.js';
export type { MemoryDefenseStoreOptions } from './store/memory/memory-defense.store.js';
export { runMemoryCheck } from './store/memory/memory-check.js';
export type { MemorySpaces } from './store/check-part.js';
export { runDefenseStoreContract } from './store/contract/defense-store.contract.js';
export type { DefenseStoreFactory } from './store/contract/defense-store.contract.js';
