import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';

/** The built demo's entry point under `dist/` after `nest build demo` (`npm run start:prod` runs it). */
export const DEMO_BUILD_MAIN = 'dist/apps/demo/apps/demo/src/main.js';

/** The demo in its own Node process, as operators run it. */
export interface DemoProcess {
  child: ChildProcess;
  /** `http://127.0.0.1:<port>`. */
  url: string;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** SIGTERM (SIGKILL after 5 s), then waits for the exit and the log file. */
  stop(): Promise<void>;
}

/**
 * Runs a built demo (`main`, a `main.js`) with `node` on PORT=0 and resolves once it logs its port. The environment
 * is this process's plus `env`; stdout and stderr are kept (and copied to `logFile` when given). Rejects with the
 * output when the process exits first.
 */
export function startDemoProcess(main: string, env: Record<string, string>, options: { logFile?: string; cwd?: string } = {}): Promise<DemoProcess> {
  const log = options.logFile ? createWriteStream(options.logFile) : undefined;
  const child = spawn(process.execPath, [main], { cwd: options.cwd, env: { ...process.env, PORT: '0', NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const record = (chunk: Buffer) => {
    output += chunk.toString();
    log?.write(chunk);
  };
  child.stdout!.on('data', record);
  child.stderr!.on('data', record);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    if (log) await new Promise((resolve) => log.end(resolve));
  };
  return new Promise((resolve, reject) => {
    const onData = () => {
      const match = /listening on port (\d+)/.exec(output);
      if (!match) return;
      child.stdout!.off('data', onData);
      child.stderr!.off('data', onData);
      resolve({ child, url: `http://127.0.0.1:${match[1]}`, output: () => output, stop });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then(() => reject(new Error(`the demo exited with ${child.exitCode ?? child.signalCode}: ${output.slice(-2000)}`)));
  });
}
