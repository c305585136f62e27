import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The committed edge configuration (docs/infrastructure.md quotes it). */
export const NGINX_CONF = join(__dirname, '..', '..', 'docs', 'infrastructure', 'nginx.conf');
/** The host name the committed configuration serves (its `server_name`). */
export const EDGE_HOST = 'api.example.com';

/** The nginx binary: on PATH, or in /usr/sbin (Debian's place, off a non-root user's PATH); undefined when absent. */
function findNginx(): string | undefined {
  for (const candidate of ['nginx', '/usr/sbin/nginx']) {
    if (spawnSync(candidate, ['-v'], { stdio: 'ignore' }).status === 0) return candidate;
  }
  return undefined;
}

/**
 * Installs nginx with apt when it is missing and we are root (CI machines start without it), as
 * `ensureRedisInstalled` does for redis-server, and returns its path. Throws a message that says what to do when
 * it cannot: the edge config is then untested, which must not pass silently.
 */
export function ensureNginxInstalled(): string {
  const found = findNginx();
  if (found) return found;
  if (process.getuid?.() !== 0) {
    throw new Error('nginx is missing and this is not root: install it (apt-get install nginx); test/nginx.e2e-spec.ts runs the committed edge config through it');
  }
  const apt = spawnSync('bash', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx'], { encoding: 'utf8' });
  const installed = findNginx();
  if (!installed) {
    throw new Error(`nginx is missing and apt-get could not install it (exit ${apt.status}): ${(apt.stderr ?? '').trim().split('\n').slice(-5).join('\n')}`);
  }
  return installed;
}

/** A throwaway CA and a certificate for {@link EDGE_HOST}, made with openssl in `dir`. */
function makeEdgeCertificate(dir: string): { ca: string; certFile: string; keyFile: string } {
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ecKey, '-keyout', file('ca.key'), '-out', file('ca.crt'), '-days', '2', '-subj', '/CN=jwt-defense edge test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  openssl('req', '-new', ...ecKey, '-keyout', file('edge.key'), '-out', file('edge.csr'), '-subj', `/CN=${EDGE_HOST}`);
  writeFileSync(file('edge.ext'), `subjectAltName=DNS:${EDGE_HOST}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`);
  openssl('x509', '-req', '-in', file('edge.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial',
    '-out', file('edge.crt'), '-days', '2', '-extfile', file('edge.ext'));
  return { ca: readFileSync(file('ca.crt'), 'utf8'), certFile: file('edge.crt'), keyFile: file('edge.key') };
}

/**
 * The committed config with the deployment's values replaced by the test's: the listen port (loopback), the
 * upstream (the demo), the certificate, and the /run, /var/log, /var/lib paths (so nginx runs without root).
 * Every replacement must match: a config edited so that one no longer does fails here, instead of being tested
 * with a value of the deployment left in.
 */
export function renderNginxConf(source: string, values: { port: number; upstreamPort: number; dir: string; certFile: string; keyFile: string }): string {
  const { port, upstreamPort, dir, certFile, keyFile } = values;
  const replacements: Array<[string, string]> = [
    ['listen 443 ssl default_server;', `listen 127.0.0.1:${port} ssl default_server;`],
    ['listen 443 ssl http2;', `listen 127.0.0.1:${port} ssl http2;`],
    ['server 10.0.1.10:3000;', `server 127.0.0.1:${upstreamPort};`],
    ['/etc/nginx/tls/api.example.com.crt', certFile],
    ['/etc/nginx/tls/api.example.com.key', keyFile],
    ['/run/nginx.pid', join(dir, 'nginx.pid')],
    ['/var/log/nginx/', `${join(dir, 'logs')}/`],
    ['/var/lib/nginx/', `${join(dir, 'temp')}/`],
  ];
  let text = source;
  for (const [from, to] of replacements) {
    if (!text.includes(from)) throw new Error(`docs/infrastructure/nginx.conf no longer contains "${from}": update test/support/nginx.ts`);
    text = text.split(from).join(to);
  }
  const directives = text.replace(/#.*$/gm, '');
  const left = /(?:^|\s)(\/etc\/|\/var\/|\/run\/)|10\.0\.1\.10|listen 443/m.exec(directives);
  if (left) throw new Error(`the rendered nginx config still names a deployment value: ${left[0].trim()}`);
  return text;
}

export interface EdgeResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Raw header names and values, in order (to count repeated headers). */
  rawHeaders: string[];
  body: string;
  /** The body parsed as JSON, or undefined. */
  json?: Record<string, unknown>;
}

export interface EdgeRequest {
  method?: string;
  path: string;
  /** Header values; an array sends the header several times. */
  headers?: Record<string, string | string[]>;
  body?: string;
  /** Source address of the client's connection (any 127.0.0.0/8 address on Linux): the client as nginx sees it. */
  localAddress?: string;
}

/** nginx from the committed config, on a loopback port, in front of an app on `upstreamPort`. */
export class NginxEdge {
  private child?: ChildProcess;
  private stderr = '';

  private constructor(
    private readonly binary: string,
    readonly port: number,
    readonly dir: string,
    readonly confFile: string,
    readonly ca: string,
  ) {}

  /** Renders the committed config into a temp dir (nothing started yet). */
  static prepare(port: number, upstreamPort: number): NginxEdge {
    const binary = ensureNginxInstalled();
    const dir = mkdtempSync(join(tmpdir(), 'jwtd-nginx-'));
    // Workers drop to `user www-data` when the master runs as root: they must reach the temp paths inside.
    chmodSync(dir, 0o755);
    mkdirSync(join(dir, 'logs'));
    mkdirSync(join(dir, 'temp'));
    const { ca, certFile, keyFile } = makeEdgeCertificate(dir);
    const confFile = join(dir, 'nginx.conf');
    writeFileSync(confFile, renderNginxConf(readFileSync(NGINX_CONF, 'utf8'), { port, upstreamPort, dir, certFile, keyFile }));
    return new NginxEdge(binary, port, dir, confFile, ca);
  }

  /** `nginx -t` on the rendered config: its exit status and output. */
  test(): { status: number | null; output: string } {
    const result = spawnSync(this.binary, ['-t', '-c', this.confFile, '-p', `${this.dir}/`, '-e', 'stderr'], { encoding: 'utf8' });
    return { status: result.status, output: `${result.stdout}${result.stderr}` };
  }

  /** Starts nginx in the foreground (`daemon off;`) and waits until its port accepts connections. */
  async start(timeoutMs = 10_000): Promise<void> {
    const child = spawn(this.binary, ['-c', this.confFile, '-p', `${this.dir}/`, '-e', 'stderr', '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`nginx exited at start: ${this.stderr}${this.errorLogTail()}`);
      if (await this.accepts()) return;
      if (Date.now() > deadline) throw new Error(`nginx did not listen on ${this.port}: ${this.stderr}${this.errorLogTail()}`);
      await sleep(25);
    }
  }

  /** Stops nginx (SIGTERM: the master stops its workers) and removes the temp dir. */
  async destroy(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child && child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill('SIGTERM');
      });
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** nginx's access log (the config's `jwtd` format), one entry a line. */
  accessLog(): string[] {
    const file = join(this.dir, 'logs', 'access.log');
    return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
  }

  /** One HTTPS request through the edge, on a new connection, with SNI and certificate check for {@link EDGE_HOST}. */
  request(options: EdgeRequest): Promise<EdgeResponse> {
    const { method = 'GET', path, headers = {}, body, localAddress = '127.0.0.1' } = options;
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          port: this.port,
          servername: EDGE_HOST,
          ca: this.ca,
          localAddress,
          method,
          path,
          agent: false,
          headers: { host: EDGE_HOST, ...(body !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}), ...headers },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => {
            let json: Record<string, unknown> | undefined;
            try {
              json = JSON.parse(text) as Record<string, unknown>;
            } catch {
              json = undefined;
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: text, json });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  private accepts(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: this.port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
  }

  private errorLogTail(): string {
    const file = join(this.dir, 'logs', 'error.log');
    return existsSync(file) ? `\n${readFileSync(file, 'utf8').split('\n').slice(-8).join('\n')}` : '';
  }
}
