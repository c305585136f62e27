#!/usr/bin/env node
// The `jwt-defense` command (see cli.ts, and docs/incident-response.md for when to use it).
import { runCli } from './cli.js';

runCli(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  env: process.env,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`jwt-defense: ${(error as Error)?.message ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
