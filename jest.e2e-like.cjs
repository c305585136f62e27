// A jest config for a suite run apart from `npm test` (the fault suite, the smoke runs): the e2e project's settings
// (transform, ESM allow-list, module mapping) with its own name, files and timeout.
const base = require('./jest.config.cjs');

module.exports = function e2eLike(displayName, testMatch, testTimeout) {
  const { displayName: _name, testMatch: _match, ...common } = base.projects.find((project) => project.displayName === 'e2e');
  return { ...common, displayName, testMatch: [testMatch], testTimeout };
};
