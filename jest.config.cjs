// Jest runs in CommonJS mode: @swc/jest compiles our TypeScript and the ESM-only Nest 12 packages to CJS.
// (Native ESM Jest cannot load @nestjs/throttler 6, a CJS package that require()s the ESM @nestjs/common,
// before Node 24.9.)
// jose 6 is ESM-only too (its package.json `exports` has no `require` condition, only `default` → dist/webapi
// ESM), so Jest's CommonJS resolver loads an ESM file it must transform. oidc-provider is not listed: it runs
// in a child process (test/support/oidc-provider.child.mjs), never inside Jest. The GraphQL-on-Fastify chain
// (@nestjs/mercurius → mercurius → quick-lru, @fastify/static → content-disposition) is ESM-only too.
const esmPackages = ['@nestjs', 'file-type', 'strtok3', 'token-types', 'peek-readable', 'uint8array-extras',
  '@tokenizer', '@borewit', 'uid', 'cookie', 'path-to-regexp', 'load-esm', 'jose', '@fastify/static', 'content-disposition', 'mercurius', 'quick-lru'];
const swc = ['@swc/jest', {
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true },
    target: 'es2022',
  },
  module: { type: 'commonjs' },
}];
const common = {
  testEnvironment: 'node',
  transform: { '^.+\\.(t|j|mj)s$': swc },
  transformIgnorePatterns: [`/node_modules/(?!(${esmPackages.join('|')})/)`],
  moduleNameMapper: {
    '^@jwt-defense/core$': '<rootDir>/libs/jwt-defense/src/index.ts',
    '^@jwt-defense/core/(fastify|redis|prometheus|opentelemetry|store)$': '<rootDir>/libs/jwt-defense/src/$1.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
  // The package build (npm run pack:lib) writes libs/jwt-defense/dist: never a test or a module of the run.
  modulePathIgnorePatterns: ['<rootDir>/libs/jwt-defense/dist/'],
};
module.exports = {
  testTimeout: 30000,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/libs/**/*.spec.ts', '<rootDir>/apps/**/*.spec.ts'] },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'] },
  ],
};
