import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { RedisClusterServer, RedisServer } from './support/redis-server.js';
import { TcpProxy } from './support/tcp-proxy.js';

// Self-tests of the Redis fault harness: every helper does what it says on a real redis-server.

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const key = (name: string) => `harness:${randomBytes(4).toString('hex')}:${name}`;
const PING = '*1\r\n$4\r\nPING\r\n';

/** A raw TCP client: what it receives is exactly what the proxy forwarded. */
class RawClient {
  received = '';
  closed = false;
  error?: NodeJS.ErrnoException;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => (this.received += chunk.toString('latin1')));
    socket.on('error', (error) => (this.error = error));
    socket.on('close', () => (this.closed = true));
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host: '127.0.0.1' });
      socket.once('connect', () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  send(text: string): void {
    this.socket.write(text);
  }

  /** Waits until `expected` has arrived in total (or fails after timeoutMs). */
  async waitFor(expected: string, timeoutMs = 2000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.received !== expected) {
      if (Date.now() > deadline) throw new Error(`expected ${JSON.stringify(expected)}, got ${JSON.stringify(this.received)}`);
      await sleep(5);
    }
  }

  async waitForClose(timeoutMs = 2000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('socket not closed');
      await sleep(5);
    }
  }
}

/** Clients opened by a test, closed after it. */
function useClients() {
  const redisClients: Array<Redis | Cluster> = [];
  const sockets: RawClient[] = [];
  afterEach(() => {
    for (const client of redisClients.splice(0)) client.disconnect();
    for (const raw of sockets.splice(0)) raw.socket.destroy();
  });
  return {
    redis(urlOrOptions: string | RedisOptions, options: RedisOptions = {}): Redis {
      // A short disconnectTimeout: ioredis arms it even when the socket is already gone (a killed server, a closed
      // proxy), and the default 2 s would outlive the run.
      const all = { disconnectTimeout: 50, ...options };
      const client = typeof urlOrOptions === 'string' ? new Redis(urlOrOptions, all) : new Redis({ ...urlOrOptions, ...all });
      client.on('error', () => undefined);
      redisClients.push(client);
      return client;
    },
    cluster(nodes: Array<{ host: string; port: number }>, options: ClusterOptions = {}): Cluster {
      const client = new Cluster(nodes, { ...options, redisOptions: { disconnectTimeout: 50, ...options.redisOptions } });
      client.on('error', () => undefined);
      redisClients.push(client);
      return client;
    },
    async raw(port: number): Promise<RawClient> {
      const raw = await RawClient.connect(port);
      sockets.push(raw);
      return raw;
    },
  };
}

/** A client that fails at once instead of retrying (to observe refusals). */
const noRetry: RedisOptions = { lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2000 };

describe('TcpProxy', () => {
  let redis: RedisServer;
  let proxy: TcpProxy;
  const clients = useClients();

  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  beforeEach(async () => {
    proxy = await TcpProxy.start(redis.port);
  });
  afterEach(() => proxy.close());
  afterAll(() => redis.destroy());

  it('passes bytes through and counts bytes and commands, across chunk boundaries and pipelines', async () => {
    expect(proxy.url).toBe(`redis://127.0.0.1:${proxy.port}`);
    const raw = await clients.raw(proxy.port);
    raw.send(PING.slice(0, 9));
    await sleep(30);
    expect(proxy.stats().commands).toBe(0); // half a command is not a command
    raw.send(PING.slice(9));
    await raw.waitFor('+PONG\r\n');
    const pipelined = '*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n' + PING;
    raw.send(pipelined);
    await raw.waitFor('+PONG\r\n$2\r\nhi\r\n+PONG\r\n');
    expect(proxy.stats()).toEqual({
      connections: 1,
      activeConnections: 1,
      bytesToServer: PING.length + pipelined.length,
      bytesToClient: raw.received.length,
      commands: 3,
      commandsByName: { ping: 2, echo: 1 },
    });
  });

  it('delay(ms) delays every reply by at least ms, in order; passThrough() ends it', async () => {
    const client = clients.redis(proxy.url);
    await client.ping();
    proxy.delay(200);
    let started = performance.now();
    await expect(client.ping()).resolves.toBe('PONG');
    expect(performance.now() - started).toBeGreaterThanOrEqual(200);

    const counter = key('order');
    const order: number[] = [];
    const replies = await Promise.all(Array.from({ length: 20 }, () => client.incr(counter).then((value) => (order.push(value), value))));
    expect(replies).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(order).toEqual(replies);

    proxy.passThrough();
    started = performance.now();
    await client.ping();
    expect(performance.now() - started).toBeLessThan(150);
  });

  it('hang() holds replies (commands still run), a command timeout fires, release() delivers the rest in order', async () => {
    const impatient = clients.redis(proxy.url, { commandTimeout: 300 });
    const patient = clients.redis(proxy.url);
    await Promise.all([impatient.ping(), patient.ping()]);
    const counter = key('hang');

    proxy.hang();
    await expect(impatient.get(counter)).rejects.toThrow('Command timed out');
    const order: number[] = [];
    const increments = [1, 2, 3].map(() => patient.incr(counter).then((value) => (order.push(value), value)));
    await sleep(200);
    expect(order).toEqual([]);
    await expect(redis.call('GET', counter)).resolves.toBe('3'); // they ran: only the replies are held

    proxy.release();
    await expect(Promise.all(increments)).resolves.toEqual([1, 2, 3]);
    expect(order).toEqual([1, 2, 3]);
    // The late reply to the timed-out GET was consumed by it, so the impatient client is not off by one.
    await expect(impatient.get(counter)).resolves.toBe('3');
  });

  it('hang({ holdRequests: true }) keeps commands from Redis until release()', async () => {
    const client = clients.redis(proxy.url);
    await client.ping();
    const counter = key('held');
    proxy.hang({ holdRequests: true });
    const increment = client.incr(counter);
    await sleep(150);
    await expect(redis.call('GET', counter)).resolves.toBeNull();
    proxy.release();
    await expect(increment).resolves.toBe(1);
  });

  it('drop() resets the connections and discards the held replies; new connections pass through', async () => {
    const raw = await clients.raw(proxy.port);
    raw.send(PING);
    await raw.waitFor('+PONG\r\n');
    proxy.hang();
    raw.send(PING);
    await sleep(50);
    proxy.drop();
    await raw.waitForClose();
    expect(raw.received).toBe('+PONG\r\n');
    expect(raw.error?.code).toBe('ECONNRESET');
    expect(proxy.currentMode).toEqual({ kind: 'pass' });

    const next = await clients.raw(proxy.port);
    next.send(PING);
    await next.waitFor('+PONG\r\n');
    expect(proxy.stats()).toMatchObject({ connections: 2, activeConnections: 1 });
  });

  it('cut() resets the connections but keeps a hang for the next ones', async () => {
    const raw = await clients.raw(proxy.port);
    proxy.hang();
    proxy.cut();
    await raw.waitForClose();
    const next = await clients.raw(proxy.port);
    next.send(PING);
    await sleep(100);
    expect(next.received).toBe('');
    proxy.release();
    await next.waitFor('+PONG\r\n');
  });

  it('refuse() makes new connections fail with ECONNREFUSED while open ones work; accept() reopens the same port', async () => {
    const open = await clients.raw(proxy.port);
    const port = proxy.port;
    await proxy.refuse();
    await expect(RawClient.connect(port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    open.send(PING);
    await open.waitFor('+PONG\r\n');
    await proxy.accept();
    expect(proxy.port).toBe(port);
    const next = await clients.raw(port);
    next.send(PING);
    await next.waitFor('+PONG\r\n');
  });

  it('close() with delayed replies queued resets the connections and stops listening', async () => {
    const raw = await clients.raw(proxy.port);
    proxy.delay(10_000);
    raw.send(PING);
    await sleep(50);
    await proxy.close();
    await raw.waitForClose();
    expect(raw.received).toBe('');
    await expect(RawClient.connect(proxy.port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

describe('RedisServer options', () => {
  const servers: RedisServer[] = [];
  const clients = useClients();
  const start = async (options?: Parameters<typeof RedisServer.start>[0]) => {
    const server = await RedisServer.start(options);
    servers.push(server);
    return server;
  };
  afterAll(() => Promise.all(servers.map((server) => server.destroy())));

  it('extra arguments (the older call form) reach redis-server; without AOF a crash loses the data', async () => {
    const server = await start(['--maxmemory', '12mb']);
    await expect(server.call('CONFIG', 'GET', 'maxmemory')).resolves.toEqual(['maxmemory', String(12 * 1024 * 1024)]);
    const name = key('volatile');
    await server.call('SET', name, 'v');
    await server.stop();
    await server.resume();
    await expect(server.call('GET', name)).resolves.toBeNull();
  });

  it('appendonly with appendfsync always keeps every acknowledged write across a SIGKILL', async () => {
    const server = await start({ appendonly: true, appendfsync: 'always' });
    await expect(server.call('CONFIG', 'GET', 'appendfsync')).resolves.toEqual(['appendfsync', 'always']);
    const name = key('durable');
    await server.call('SET', name, 'kept');
    await server.stop();
    expect(server.running).toBe(false);
    await server.resume();
    await expect(server.call('GET', name)).resolves.toBe('kept');
  });

  it('tls: a client with the CA connects over rediss://, one without it or without TLS does not', async () => {
    const server = await start({ tls: true });
    expect(server.url).toBe(`rediss://127.0.0.1:${server.port}`);
    expect(server.caPem).toMatch(/^-----BEGIN CERTIFICATE-----/);

    await expect(clients.redis(server.url, { tls: { ca: server.caPem } }).ping()).resolves.toBe('PONG');
    await expect(clients.redis(server.clientOptions()).ping()).resolves.toBe('PONG');
    expect(execFileSync('redis-cli', ['--tls', '--cacert', server.caFile!, '-p', String(server.port), 'PING']).toString().trim()).toBe('PONG');

    const untrusted = clients.redis(server.url, noRetry);
    const refusal = once(untrusted, 'error');
    await expect(untrusted.connect()).rejects.toThrow();
    await expect(refusal).resolves.toMatchObject([{ code: 'SELF_SIGNED_CERT_IN_CHAIN' }]);
    const plain = clients.redis(server.url.replace('rediss:', 'redis:'), noRetry);
    await expect(plain.connect().then(() => plain.ping())).rejects.toThrow();
  });

  it('requirePass and ACL users: anonymous is refused, a least-privilege user gets NOPERM outside its rules, users survive resume()', async () => {
    const server = await start({ requirePass: 'admin-secret', aclUsers: [{ username: 'reader', password: 'reader-pw', rules: '~app:* +get' }] });
    const anonymous = clients.redis(server.urlFor(), noRetry);
    await expect(anonymous.connect().then(() => anonymous.ping())).rejects.toThrow(/^NOAUTH/);
    await expect(clients.redis(server.url).ping()).resolves.toBe('PONG');

    // No ready check: it runs INFO, which these users may not.
    const reader = clients.redis(server.urlFor({ username: 'reader', password: 'reader-pw' }), { enableReadyCheck: false });
    await expect(reader.get('app:x')).resolves.toBeNull();
    await expect(reader.set('app:x', '1')).rejects.toThrow(/^NOPERM/);
    await expect(reader.get('other:x')).rejects.toThrow(/^NOPERM/);

    const writerUrl = await server.createAclUser('writer', 'writer-pw', '~app:* +get +set');
    expect(writerUrl).toBe(`redis://writer:writer-pw@127.0.0.1:${server.port}`);
    const writer = clients.redis(writerUrl, { enableReadyCheck: false });
    await expect(writer.set('app:x', '1')).resolves.toBe('OK');
    await expect(writer.del('app:x')).rejects.toThrow(/^NOPERM/);

    await server.stop();
    await server.resume();
    await expect(clients.redis(writerUrl, noRetry).connect()).resolves.toBeUndefined();
    const readerAgain = clients.redis(server.urlFor({ username: 'reader', password: 'reader-pw' }), noRetry);
    await readerAgain.connect();
    await expect(readerAgain.set('app:x', '1')).rejects.toThrow(/^NOPERM/);
  });

  it('clientPause holds commands for the pause (ALL) or only writes (WRITE); time() is the server clock', async () => {
    const server = await start();
    const writer = clients.redis(server.url);
    const reader = clients.redis(server.url);
    await Promise.all([writer.ping(), reader.ping()]);

    let started = performance.now();
    await server.clientPause(300);
    await reader.ping();
    // 2 ms of slack: Redis ends the pause on its millisecond clock.
    expect(performance.now() - started).toBeGreaterThanOrEqual(298);

    await server.clientPause(400, 'WRITE');
    started = performance.now();
    let written = false;
    const write = writer.set(key('paused'), 'v').then(() => (written = true));
    await expect(reader.get(key('paused'))).resolves.toBeNull();
    expect(written).toBe(false);
    expect(performance.now() - started).toBeLessThan(200);
    await write;
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);

    expect(Math.abs((await server.time()) - Date.now())).toBeLessThan(1000);
  });
});

describe('RedisClusterServer with replicas', () => {
  let cluster: RedisClusterServer;
  const clients = useClients();

  beforeAll(async () => {
    cluster = await RedisClusterServer.start({ replicas: 1 });
  }, 40_000);
  afterAll(() => cluster?.destroy());

  it('starts 3 masters covering all slots, each with one replica', async () => {
    const topology = await cluster.topology();
    expect(topology).toHaveLength(6);
    const masters = topology.filter((node) => node.role === 'master');
    expect(masters).toHaveLength(3);
    expect(masters.flatMap((master) => master.slots).reduce((total, [from, to]) => total + to - from + 1, 0)).toBe(16384);
    for (const master of masters) expect(topology.filter((node) => node.masterId === master.id)).toHaveLength(1);
    expect(topology.every((node) => node.connected && node.flags.length === 0)).toBe(true);
  });

  it('masterFor(key) names the master that accepts the key; the others answer MOVED', async () => {
    const name = key('routed');
    const port = await cluster.masterFor(name);
    await expect(clients.redis({ host: '127.0.0.1', port }).set(name, 'v')).resolves.toBe('OK');
    const others = (await cluster.topology()).filter((node) => node.role === 'master' && node.port !== port);
    for (const other of others) {
      await expect(clients.redis({ host: '127.0.0.1', port: other.port }).get(name)).rejects.toThrow(new RegExp(`^MOVED \\d+ 127\\.0\\.0\\.1:${port}$`));
    }
  });

  it('killMaster + waitForFailover: the replica takes over with the replicated write; the old master rejoins as a replica', async () => {
    const name = key('failover');
    const oldPort = await cluster.masterFor(name);
    const master = clients.redis({ host: '127.0.0.1', port: oldPort });
    await master.set(name, 'before');
    // Replication is asynchronous: WAIT until the replica acknowledged the write (it answers as soon as it has: the
    // bound only matters on a loaded machine, where 100 ms was seen to pass without the acknowledgement).
    await expect(master.call('WAIT', 1, 5000)).resolves.toBe(1);
    const topology = await cluster.topology();
    const oldId = topology.find((node) => node.port === oldPort)!.id;
    const replicaPort = topology.find((node) => node.masterId === oldId)!.port;
    const before = clients.cluster(cluster.clusterNodes);
    await expect(before.get(name)).resolves.toBe('before');

    await cluster.killMaster(oldPort);
    const newPort = await cluster.waitForFailover(oldPort);
    expect(newPort).toBe(replicaPort);
    await expect(cluster.masterFor(name)).resolves.toBe(newPort);
    await expect(clients.cluster(cluster.clusterNodes).get(name)).resolves.toBe('before');
    await expect(before.set(name, 'after')).resolves.toBe('OK'); // the older client follows the failover too
    await expect(clients.redis({ host: '127.0.0.1', port: newPort }).get(name)).resolves.toBe('after');

    await cluster.restartNode(oldPort);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const old = (await cluster.topology()).find((node) => node.port === oldPort)!;
      if (old.role === 'replica' && old.flags.length === 0) {
        expect(old.masterId).toBe(topology.find((node) => node.port === newPort)!.id);
        break;
      }
      if (Date.now() > deadline) throw new Error(`old master not back as a replica: ${JSON.stringify(old)}`);
      await sleep(100);
    }
  }, 30_000);
});
