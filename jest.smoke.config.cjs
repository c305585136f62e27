// The slow smoke runs (`npm run test:smoke`): `npm run bench -- --quick`, which builds the demo and the bench and loads
// nine variants (about a minute), so it is not part of `npm test`; `.ci/run` runs it as its own step and counts it in
// its totals.
module.exports = require('./jest.e2e-like.cjs')('smoke', '<rootDir>/test/**/*.smoke-spec.ts', 300_000);
