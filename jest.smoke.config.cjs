// The slow smoke runs (`npm run test:smoke`): `npm run bench -- --quick`, which builds the demo and the bench and loads
// nine variants (about a minute), so it is not part of `npm test`; `.ci/run` runs it as its own step and counts it in
// its totals. It reuses the e2e project's settings (transform, ESM allow-list, module mapping).
const base = require('./jest.config.cjs');

const { displayName, testMatch, ...common } = base.projects.find((project) => project.displayName === 'e2e');
module.exports = {
  ...common,
  displayName: 'smoke',
  testMatch: ['<rootDir>/test/**/*.smoke-spec.ts'],
  testTimeout: 300_000,
};
