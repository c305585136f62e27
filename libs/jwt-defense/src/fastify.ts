// `@jwt-defense/core/fastify`: what needs Fastify's types (an optional peer), kept out of the main entry so an
// Express-only app type-checks without `fastify` installed.
export { fastifyFrameworkErrors } from './errors/fastify-framework-errors.js';
