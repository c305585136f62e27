/** The value after `--name` on the command line (`npm run soak -- --duration 60`), if given. */
export function option(name: string): string | undefined {
  const argv = process.argv.slice(2);
  const index = argv.indexOf(name);
  return index >= 0 ? argv[index + 1] : undefined;
}
