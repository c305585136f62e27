// The fault suite (`npm run test:faults`): real redis-server processes killed, paused, slowed and failed over under
// bounded load. Minutes long, so it is not part of `npm test`; `.ci/run` runs it as its own step. It reuses the e2e
// project's settings (transform, ESM allow-list, module mapping).
const base = require('./jest.config.cjs');

const { displayName, testMatch, ...common } = base.projects.find((project) => project.displayName === 'e2e');
module.exports = {
  ...common,
  displayName: 'faults',
  testMatch: ['<rootDir>/test/faults/**/*.faults-spec.ts'],
  testTimeout: 120_000,
};
