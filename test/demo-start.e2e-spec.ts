import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..');

/** Runs `npm start` (or another script) as a user would, on PORT=0, and resolves with the port once the demo logs it. */
function startDemoProcess(env: Record<string, string>, script = 'start'): { child: ChildProcess; output: () => string; port: Promise<number> } {
  const child = spawn('npm', ['run', script], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', NO_COLOR: '1', ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const port = new Promise<number>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on port (\d+)/.exec(output);
      if (match) resolve(Number(match[1]));
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('close', (code) => reject(new Error(`npm start exited with ${code}:\n${output}`)));
  });
  return { child, output: () => output, port };
}

describe('npm start', () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    if (child?.pid && child.exitCode === null) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // Already gone.
      }
    }
  });

  it('builds and serves /health on the memory store with an ephemeral key and a logged warning', async () => {
    const started = startDemoProcess({});
    child = started.child;
    const port = await started.port;
    const res = await fetch(`http://127.0.0.1:${port}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', store: 'memory' });
    expect(started.output()).toMatch(/WARN.*JWT_PRIVATE_KEY_FILE is not set: using an ephemeral ES256 key/);
  }, 90_000);

  it('npm run start:prod starts the demo that npm start built, on the embedded store', async () => {
    // dist/ was built by `npm start` in the first test of this file.
    const started = startDemoProcess({}, 'start:prod');
    child = started.child;
    const port = await started.port;
    const res = await fetch(`http://127.0.0.1:${port}/health`);
    expect(await res.json()).toEqual({ status: 'ok', store: 'memory' });
    expect(started.output()).not.toMatch(/nest build/);
  }, 90_000);

  it('refuses to boot with a bad option and names it', async () => {
    const started = startDemoProcess({ JWT_ALGORITHM: 'HS256', JWT_SECRET: 'too-short' });
    child = started.child;
    await expect(started.port).rejects.toThrow(/keys\[0\]\.secret is 9 bytes/);
  }, 90_000);
});
