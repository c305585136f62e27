import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis, type RedisOptions } from 'ioredis';

const execFileAsync = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits until a store (an app's `DefenseStore`) answers a PING again after its Redis came back: ioredis reconnects by
 * itself, and an app closed while it reconnects keeps Jest alive.
 */
export async function untilStoreAnswers(store: { ping(): Promise<unknown> }, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await store.ping();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(100);
    }
  }
}

/** Installs redis-server with apt when it is missing and we are root (CI machines start without it). */
export function ensureRedisInstalled(): void {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return;
  } catch {
    // fall through
  }
  if (process.getuid?.() !== 0) throw new Error('redis-server is missing: install it (apt-get install redis-server)');
  execFileSync('bash', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server'], {
    stdio: 'ignore',
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * A port found free can be taken before redis-server binds it (by another test's server, or as the ephemeral port of
 * any loopback connection): start again on new ports, a few times.
 */
async function retryOnPortRace<T>(start: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (error) {
      if (attempt >= attempts || !/Address already in use/.test(String((error as Error)?.message))) throw error;
    }
  }
}

/** A user created with `ACL SETUSER name reset on >password <rules>`. */
export interface RedisAclUser {
  username: string;
  password: string;
  /** ACL rules, space separated, e.g. `'~app:* +get +set'` or `'~app:* +@read -keys'`. */
  rules: string;
}

export interface RedisServerOptions {
  /** More redis-server arguments, appended last (so they win over the ones below). */
  args?: string[];
  /** Turns the append-only file on (default off). With it a `stop()` + `resume()` keeps the data. */
  appendonly?: boolean;
  /** fsync policy of the append-only file (default `'everysec'`: a SIGKILL may lose the last second of writes). */
  appendfsync?: 'everysec' | 'always';
  /**
   * Serves TLS only (the plain port is off): a throwaway CA and a server certificate for 127.0.0.1/localhost are
   * made with openssl in the server's temp dir. Clients are not asked for a certificate.
   */
  tls?: true;
  /** Password of the `default` user (`requirepass`). Admin helpers and `url` use it. */
  requirePass?: string;
  /** Users created with ACL SETUSER at start and again after every `resume()` (ACLs are not persisted). */
  aclUsers?: RedisAclUser[];
}

interface TlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

function makeTlsFiles(dir: string): TlsFiles {
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ecKey, '-keyout', file('ca.key'), '-out', file('ca.crt'), '-days', '2', '-subj', '/CN=jwt-defense test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  openssl('req', '-new', ...ecKey, '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=localhost');
  writeFileSync(file('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n');
  openssl('x509', '-req', '-in', file('server.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial',
    '-out', file('server.crt'), '-days', '2', '-extfile', file('server.ext'));
  return { caFile: file('ca.crt'), certFile: file('server.crt'), keyFile: file('server.key') };
}

/**
 * Opens a short-lived connection, runs `fn` on it and closes it. No retries, no ready check (CLIENT PAUSE holds
 * INFO), and a short disconnectTimeout: ioredis arms that timer even for a socket already closed (a server not up
 * yet), and the default 2 s timer outlives a jest run.
 */
async function withClient<T>(options: RedisOptions, fn: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis({
    ...options,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableReadyCheck: false,
    disconnectTimeout: 50,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await fn(client);
  } finally {
    client.disconnect();
  }
}

/** A real redis-server on a free loopback port, in its own temp dir, without persistence unless asked. */
export class RedisServer {
  private process?: ChildProcess;
  private readonly dir = mkdtempSync(join(tmpdir(), 'jwtd-redis-'));
  private readonly options: RedisServerOptions;
  private readonly aclUsers: RedisAclUser[];
  private tlsFiles?: TlsFiles;

  private constructor(
    readonly port: number,
    options: RedisServerOptions,
  ) {
    this.options = options;
    this.aclUsers = [...(options.aclUsers ?? [])];
  }

  /**
   * Starts a server. `extraArgs` (the older form) are appended to redis-server's arguments, like `options.args`.
   * Throws with the tail of the server's log when it exits or does not answer within 10 s.
   */
  static async start(options: string[] | RedisServerOptions = {}): Promise<RedisServer> {
    ensureRedisInstalled();
    return retryOnPortRace(async () => {
      const server = new RedisServer(await freePort(), Array.isArray(options) ? { args: options } : options);
      try {
        if (server.options.tls) server.tlsFiles = makeTlsFiles(server.dir);
        await server.resume();
      } catch (error) {
        await server.destroy();
        throw error;
      }
      return server;
    });
  }

  get tls(): boolean {
    return this.tlsFiles !== undefined;
  }

  /** The CA certificate (PEM) that signed the server's certificate, when `tls`. */
  get caPem(): string | undefined {
    return this.tlsFiles && readFileSync(this.tlsFiles.caFile, 'utf8');
  }

  /** Path of the CA certificate file, when `tls` (e.g. for `redis-cli --tls --cacert`). */
  get caFile(): string | undefined {
    return this.tlsFiles?.caFile;
  }

  /** The temp dir (data, AOF, log, certificates). */
  get directory(): string {
    return this.dir;
  }

  get running(): boolean {
    return this.process !== undefined && this.process.exitCode === null && this.process.signalCode === null;
  }

  /**
   * `redis://` (or `rediss://` with TLS) URL with the default user's password when `requirePass` is set. With TLS a
   * client still needs the CA: `new Redis(server.url, { tls: { ca: server.caPem } })` or `clientOptions()`.
   */
  get url(): string {
    return this.urlFor(this.options.requirePass === undefined ? undefined : { password: this.options.requirePass });
  }

  /** A URL with the given credentials (none: an anonymous client, which `requirePass` refuses with NOAUTH). */
  urlFor(auth?: { username?: string; password?: string }): string {
    const credentials = auth ? `${encodeURIComponent(auth.username ?? '')}:${encodeURIComponent(auth.password ?? '')}@` : '';
    return `${this.tls ? 'rediss' : 'redis'}://${credentials}127.0.0.1:${this.port}`;
  }

  /** ioredis options for this server (host, port, the CA when TLS, and the given credentials). */
  clientOptions(auth?: { username?: string; password?: string }): RedisOptions {
    return {
      host: '127.0.0.1',
      port: this.port,
      ...(this.tls ? { tls: { ca: this.caPem } } : {}),
      ...(auth?.username !== undefined ? { username: auth.username } : {}),
      ...(auth?.password !== undefined ? { password: auth.password } : {}),
    };
  }

  /** (Re)starts the server on the same port and dir (the AOF, when on, is replayed), then re-creates the ACL users. */
  async resume(): Promise<void> {
    const log = openSync(join(this.dir, 'redis.log'), 'a');
    const child = spawn('redis-server', this.arguments(), { stdio: ['ignore', log, log] });
    closeSync(log);
    this.process = child;
    await this.waitForPing(child);
    for (const user of this.aclUsers) await this.setUser(user);
  }

  /** Stops the server (SIGKILL: as abrupt as a crash) and waits for the process to be gone. */
  async stop(): Promise<void> {
    const child = this.process;
    this.process = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * Starts a replica of this server (`--replicaof`) and resolves once it has loaded the data set and follows the
   * stream (`master_link_status:up`), so it acknowledges writes at once from then on.
   */
  async startReplica(timeoutMs = 10_000): Promise<RedisServer> {
    await this.call('CONFIG', 'SET', 'repl-diskless-sync-delay', '0'); // a master setting: no 5 s wait for more replicas
    const replica = await RedisServer.start(['--replicaof', '127.0.0.1', String(this.port)]);
    const deadline = Date.now() + timeoutMs;
    while (!((await replica.call('INFO', 'replication')) as string).includes('master_link_status:up')) {
      if (Date.now() > deadline) {
        await replica.destroy();
        throw new Error(`the replica did not link to its primary on ${this.port}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return replica;
  }

  /** Runs one command as the admin (default user) on a short-lived connection. */
  async call(command: string, ...args: Array<string | number>): Promise<unknown> {
    return withClient(this.adminOptions(), (client) => client.call(command, ...args));
  }

  /**
   * Creates (or redefines) a user: `ACL SETUSER username reset on >password <rules>`; it is re-created after every
   * `resume()`. Returns a URL that logs in as that user.
   */
  async createAclUser(username: string, password: string, rules: string): Promise<string> {
    const user = { username, password, rules };
    await this.setUser(user);
    const index = this.aclUsers.findIndex((known) => known.username === username);
    if (index >= 0) this.aclUsers[index] = user;
    else this.aclUsers.push(user);
    return this.urlFor({ username, password });
  }

  /**
   * CLIENT PAUSE for `ms`: with `'ALL'` (default) every client's commands wait, with `'WRITE'` only writes (and
   * scripts) wait. Redis 7.0 cannot cut an ALL pause short (CLIENT UNPAUSE itself waits for it).
   */
  async clientPause(ms: number, mode: 'ALL' | 'WRITE' = 'ALL'): Promise<void> {
    await this.call('CLIENT', 'PAUSE', ms, mode);
  }

  /** The server's clock (TIME), in milliseconds since the epoch. */
  async time(): Promise<number> {
    const [sec, usec] = (await this.call('TIME')) as [string, string];
    return Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
  }

  private adminOptions(): RedisOptions {
    return this.clientOptions(this.options.requirePass === undefined ? undefined : { password: this.options.requirePass });
  }

  private async setUser({ username, password, rules }: RedisAclUser): Promise<void> {
    await this.call('ACL', 'SETUSER', username, 'reset', 'on', `>${password}`, ...rules.split(/\s+/).filter(Boolean));
  }

  private arguments(): string[] {
    const { appendonly, appendfsync, requirePass, args = [] } = this.options;
    const tls = this.tlsFiles;
    const port = tls
      ? ['--port', '0', '--tls-port', String(this.port), '--tls-cert-file', tls.certFile, '--tls-key-file', tls.keyFile,
        '--tls-ca-cert-file', tls.caFile, '--tls-auth-clients', 'no']
      : ['--port', String(this.port)];
    const aof = appendonly ? ['--appendonly', 'yes', '--appendfsync', appendfsync ?? 'everysec'] : ['--appendonly', 'no'];
    const auth = requirePass === undefined ? [] : ['--requirepass', requirePass];
    return [...port, '--bind', '127.0.0.1', '--save', '', ...aof, '--dir', this.dir, ...auth, ...args];
  }

  private async waitForPing(child: ChildProcess, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`redis-server on ${this.port} exited: ${this.logTail()}`);
      try {
        await withClient({ ...this.adminOptions(), connectTimeout: 1000 }, (client) => client.ping());
        return;
      } catch {
        if (Date.now() > deadline) throw new Error(`redis-server on ${this.port} did not answer PING: ${this.logTail()}`);
        await sleep(50);
      }
    }
  }

  private logTail(): string {
    const file = join(this.dir, 'redis.log');
    return existsSync(file) ? readFileSync(file, 'utf8').split('\n').slice(-8).join('\n') : '(no log)';
  }
}

/** One line of CLUSTER NODES. */
export interface ClusterNodeInfo {
  id: string;
  port: number;
  role: 'master' | 'replica';
  /** The master's node id, for a replica. */
  masterId?: string;
  /** `fail` (agreed), `fail?` (suspected), `handshake`, `noaddr`, ... (`myself`, `master`, `slave` left out). */
  flags: string[];
  connected: boolean;
  /** Slot ranges owned, inclusive: `[[0, 5460]]`. */
  slots: Array<[number, number]>;
}

export interface RedisClusterOptions {
  /** Replicas per master: 0 (default: 3 nodes) or 1 (3 masters + 3 replicas, 6 nodes). */
  replicas?: 0 | 1;
  /** `cluster-node-timeout` (default 2000 ms without replicas, 1000 ms with them so a failover takes ~2-3 s). */
  nodeTimeoutMs?: number;
}

function parseClusterNodes(text: string): ClusterNodeInfo[] {
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id, address, flagText, master, , , , link, ...slotFields] = line.trim().split(' ');
      const flags = flagText.split(',');
      const port = Number(address.split('@')[0].split(':').pop());
      const slots = slotFields
        .filter((field) => !field.startsWith('[')) // slots being migrated
        .map((field): [number, number] => {
          const [start, end] = field.split('-').map(Number);
          return [start, end ?? start];
        });
      return {
        id,
        port,
        role: flags.includes('master') ? ('master' as const) : ('replica' as const),
        ...(master !== '-' ? { masterId: master } : {}),
        flags: flags.filter((flag) => !['myself', 'master', 'slave'].includes(flag)),
        connected: link === 'connected',
        slots,
      };
    });
}

type ClusterSlotsReply = Array<[number, number, [string, number, string?], ...unknown[]]>;

/**
 * A local Redis Cluster: 3 masters, with or without one replica each. Cluster bus ports are picked free
 * (`--cluster-port`) rather than port + 10000, which may be taken or above 65535.
 */
export class RedisClusterServer {
  private readonly killed = new Map<number, { slots: Array<[number, number]> }>();

  private constructor(
    readonly nodes: RedisServer[],
    readonly replicas: 0 | 1,
  ) {}

  static async start(options: RedisClusterOptions = {}): Promise<RedisClusterServer> {
    const replicas = options.replicas ?? 0;
    const nodeTimeoutMs = options.nodeTimeoutMs ?? (replicas ? 1000 : 2000);
    const count = 3 * (1 + replicas);
    // No diskless-sync delay (5 s by default): a replica's first sync is immediate.
    const started = await Promise.allSettled(
      Array.from({ length: count }, () =>
        retryOnPortRace(async () =>
          RedisServer.start(['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', String(nodeTimeoutMs),
            '--cluster-port', String(await freePort()), '--repl-diskless-sync-delay', '0']),
        ),
      ),
    );
    const nodes = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    const cluster = new RedisClusterServer(nodes, replicas);
    try {
      const failed = started.find((result) => result.status === 'rejected');
      if (failed) throw failed.reason;
      await execFileAsync('redis-cli', ['--cluster', 'create', ...nodes.map((node) => `127.0.0.1:${node.port}`), '--cluster-replicas', String(replicas), '--cluster-yes']);
      await cluster.waitUntil(20_000, 'the cluster did not become ready', () => cluster.isReady());
    } catch (error) {
      await cluster.destroy();
      throw error;
    }
    return cluster;
  }

  get clusterNodes(): Array<{ host: string; port: number }> {
    return this.nodes.map((node) => ({ host: '127.0.0.1', port: node.port }));
  }

  node(port: number): RedisServer {
    const node = this.nodes.find((candidate) => candidate.port === port);
    if (!node) throw new Error(`no cluster node on port ${port}`);
    return node;
  }

  /** The nodes as a running node sees them (CLUSTER NODES). */
  async topology(): Promise<ClusterNodeInfo[]> {
    return parseClusterNodes((await this.liveNode().call('CLUSTER', 'NODES')) as string);
  }

  /** Port of the master that serves `key` now (CLUSTER KEYSLOT, then CLUSTER SLOTS). */
  async masterFor(key: string): Promise<number> {
    const node = this.liveNode();
    const slot = (await node.call('CLUSTER', 'KEYSLOT', key)) as number;
    const range = ((await node.call('CLUSTER', 'SLOTS')) as ClusterSlotsReply).find(([start, end]) => start <= slot && slot <= end);
    if (!range) throw new Error(`slot ${slot} is not served`);
    return Number(range[2][1]);
  }

  /** SIGKILLs a master (refuses a port that is not a master now). `waitForFailover(port)` then waits for its replica. */
  async killMaster(port: number): Promise<void> {
    const self = (await this.topology()).find((node) => node.port === port);
    if (self?.role !== 'master' || self.flags.some((flag) => flag.startsWith('fail'))) throw new Error(`${port} is not a live master`);
    this.killed.set(port, { slots: self.slots });
    await this.node(port).stop();
  }

  /**
   * Waits until the slots of the killed master `oldMasterPort` are served by another (running) node on every
   * running node's view, and every running node says cluster_state:ok. Returns the new master's port.
   */
  async waitForFailover(oldMasterPort: number, timeoutMs = 20_000): Promise<number> {
    const killed = this.killed.get(oldMasterPort);
    if (!killed) throw new Error(`killMaster(${oldMasterPort}) first`);
    let newMaster = 0;
    await this.waitUntil(timeoutMs, `no failover of ${oldMasterPort}`, async () => {
      const owners = new Set<number>();
      for (const node of this.nodes.filter((candidate) => candidate.running)) {
        if (!((await node.call('CLUSTER', 'INFO')) as string).includes('cluster_state:ok')) return false;
        const view = parseClusterNodes((await node.call('CLUSTER', 'NODES')) as string);
        for (const [start] of killed.slots) {
          const owner = view.find((candidate) => candidate.role === 'master' && candidate.slots.some(([from, to]) => from <= start && start <= to));
          if (!owner || owner.port === oldMasterPort || owner.flags.length > 0) return false;
          owners.add(owner.port);
        }
      }
      if (owners.size !== 1) return false;
      [newMaster] = owners;
      return this.node(newMaster).running;
    });
    this.killed.delete(oldMasterPort);
    return newMaster;
  }

  /** The slot of `key` (CLUSTER KEYSLOT). */
  async slotOf(key: string): Promise<number> {
    return (await this.liveNode().call('CLUSTER', 'KEYSLOT', key)) as number;
  }

  /**
   * Opens the migration of `slot` from master `fromPort` to master `toPort`, as `redis-cli --cluster reshard` does:
   * the target IMPORTING first, then the source MIGRATING. From here the source answers ASK for keys it no longer
   * has, and the target serves a client that sent ASKING.
   */
  async beginSlotMigration(slot: number, fromPort: number, toPort: number): Promise<void> {
    const [fromId, toId] = await Promise.all([this.node(fromPort).call('CLUSTER', 'MYID'), this.node(toPort).call('CLUSTER', 'MYID')]);
    await this.node(toPort).call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', fromId as string);
    await this.node(fromPort).call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', toId as string);
  }

  /**
   * MIGRATEs the keys of `slot` still on `fromPort` to `toPort`, at most `limit` of them (default: all), `perMigrate`
   * keys per MIGRATE (default 100). Returns how many moved.
   */
  async moveSlotKeys(slot: number, fromPort: number, toPort: number, limit = Number.POSITIVE_INFINITY, perMigrate = 100): Promise<number> {
    let moved = 0;
    while (moved < limit) {
      const keys = (await this.node(fromPort).call('CLUSTER', 'GETKEYSINSLOT', slot, Math.min(perMigrate, limit - moved))) as string[];
      if (keys.length === 0) break;
      await this.node(fromPort).call('MIGRATE', '127.0.0.1', toPort, '', 0, 5000, 'REPLACE', 'KEYS', ...keys);
      moved += keys.length;
    }
    return moved;
  }

  /** Closes the migration: every master is told `toPort` owns `slot` (target first, then source, then the others). */
  async endSlotMigration(slot: number, fromPort: number, toPort: number): Promise<void> {
    const toId = (await this.node(toPort).call('CLUSTER', 'MYID')) as string;
    const masters = (await this.topology()).filter((node) => node.role === 'master' && this.node(node.port).running).map((node) => node.port);
    const order = [toPort, fromPort, ...masters.filter((port) => port !== toPort && port !== fromPort)];
    for (const port of order) await this.node(port).call('CLUSTER', 'SETSLOT', slot, 'NODE', toId);
  }

  /** Restarts a stopped node with its nodes.conf: a failed-over master comes back as a replica of its successor. */
  async restartNode(port: number): Promise<void> {
    await this.node(port).resume();
  }

  async destroy(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.destroy()));
  }

  /** Every node: cluster_state:ok, the full topology known and linked, and every master with its replica online. */
  private async isReady(): Promise<boolean> {
    for (const node of this.nodes) {
      if (!((await node.call('CLUSTER', 'INFO')) as string).includes('cluster_state:ok')) return false;
      const view = parseClusterNodes((await node.call('CLUSTER', 'NODES')) as string);
      if (view.length !== this.nodes.length || view.some((entry) => !entry.connected || entry.flags.length > 0)) return false;
      const masters = view.filter((entry) => entry.role === 'master');
      if (masters.length !== 3) return false;
      if (masters.some((master) => view.filter((entry) => entry.masterId === master.id).length !== this.replicas)) return false;
      const replication = (await node.call('INFO', 'replication')) as string;
      if (replication.includes('role:master') && !replication.includes(`connected_slaves:${this.replicas}`)) return false;
      if (replication.includes('role:slave') && !replication.includes('master_link_status:up')) return false;
    }
    return true;
  }

  private liveNode(): RedisServer {
    const node = this.nodes.find((candidate) => candidate.running);
    if (!node) throw new Error('no cluster node is running');
    return node;
  }

  private async waitUntil(timeoutMs: number, message: string, condition: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let ready = false;
      try {
        ready = await condition();
      } catch {
        // a node not answering yet: try again
      }
      if (ready) return;
      if (Date.now() > deadline) throw new Error(message);
      await sleep(100);
    }
  }
}
