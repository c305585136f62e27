// The fault suite (`npm run test:faults`): real redis-server processes killed, paused, slowed and failed over under
// bounded load. Minutes long, so it is not part of `npm test`; `.ci/run` runs it as its own step.
module.exports = require('./jest.e2e-like.cjs')('faults', '<rootDir>/test/faults/**/*.faults-spec.ts', 120_000);
