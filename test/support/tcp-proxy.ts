import { connect, createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

/** What the proxy does to the traffic right now (see the methods of {@link TcpProxy}). */
export type TcpProxyMode = { kind: 'pass' } | { kind: 'delay'; delayMs: number } | { kind: 'hang'; holdRequests: boolean };

export interface TcpProxyStats {
  /** Connections accepted since start. */
  connections: number;
  /** Connections open now. */
  activeConnections: number;
  /** Bytes written to Redis (requests) and to the clients (replies), counted when actually forwarded. */
  bytesToServer: number;
  bytesToClient: number;
  /** RESP commands forwarded to Redis, in total and by lower-case name (`{ ping: 2, evalsha: 5 }`). */
  commands: number;
  commandsByName: Record<string, number>;
}

const END = Symbol('end');
type Item = { data: Buffer | typeof END; dueAt: number };

/**
 * One direction of one connection: a FIFO of chunks, each with the time it may leave. Chunks leave strictly in
 * arrival order (a chunk never overtakes the one before it), and nothing leaves while the direction is held.
 */
class Pipe {
  private readonly queue: Item[] = [];
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly destination: Socket,
    private readonly policy: () => { held: boolean; delayMs: number },
    private readonly onForward: (chunk: Buffer) => void,
  ) {}

  push(data: Buffer | typeof END): void {
    this.queue.push({ data, dueAt: performance.now() + this.policy().delayMs });
    this.flush();
  }

  flush(): void {
    this.clearTimer();
    if (this.policy().held) return;
    while (this.queue.length > 0) {
      // performance.now() and a re-check (libuv timers can fire up to a millisecond early): a chunk delayed by
      // `ms` is never delivered sooner than `ms` after it arrived.
      const waitMs = this.queue[0].dueAt - performance.now();
      if (waitMs > 0) {
        this.timer = setTimeout(() => this.flush(), Math.max(1, Math.ceil(waitMs)));
        return;
      }
      const { data } = this.queue.shift()!;
      if (this.destination.destroyed) continue;
      if (data === END) {
        this.destination.end();
      } else {
        this.onForward(data);
        this.destination.write(data);
      }
    }
  }

  /** Forgets everything queued and stops the timer. */
  discard(): void {
    this.clearTimer();
    this.queue.length = 0;
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/**
 * Counts the RESP commands in a client's byte stream across chunk boundaries (requests are arrays of bulk
 * strings; inline commands, one per line, are counted too).
 */
class RespCommandCounter {
  private buffer: Buffer = Buffer.alloc(0);

  constructor(private readonly onCommand: (name: string) => void) {}

  feed(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const consumed = this.parseOne();
      if (consumed === 0) return;
      this.buffer = this.buffer.subarray(consumed);
    }
  }

  /** Returns the bytes of one complete command at the head of the buffer, or 0 when it is not complete yet. */
  private parseOne(): number {
    const buffer = this.buffer;
    if (buffer.length === 0) return 0;
    const lineEnd = (from: number) => buffer.indexOf('\r\n', from);
    if (buffer[0] !== 0x2a /* '*' */) {
      const end = lineEnd(0);
      if (end < 0) return 0;
      const name = buffer.subarray(0, end).toString('latin1').trim().split(/\s+/)[0];
      if (name) this.onCommand(name.toLowerCase());
      return end + 2;
    }
    let end = lineEnd(0);
    if (end < 0) return 0;
    const count = Number(buffer.subarray(1, end).toString('latin1'));
    let offset = end + 2;
    let name = '';
    for (let i = 0; i < count; i++) {
      end = lineEnd(offset);
      if (end < 0) return 0;
      const length = Number(buffer.subarray(offset + 1, end).toString('latin1'));
      const start = end + 2;
      if (buffer.length < start + length + 2) return 0;
      if (i === 0) name = buffer.subarray(start, start + length).toString('latin1').toLowerCase();
      offset = start + length + 2;
    }
    this.onCommand(name);
    return offset;
  }
}

interface Connection {
  client: Socket;
  upstream: Socket;
  toClient: Pipe;
  toServer: Pipe;
}

/**
 * A loopback TCP proxy in front of a Redis port, to put faults between a client and a real Redis:
 * slow replies, replies that never come, lost connections, a refusing port.
 *
 * ```ts
 * const proxy = await TcpProxy.start(redis.port);
 * const client = new Redis(proxy.url);
 * proxy.hang();            // replies held: commands still reach Redis and run there
 * proxy.release();         // held replies delivered, in order
 * ```
 */
export class TcpProxy {
  private mode: TcpProxyMode = { kind: 'pass' };
  private readonly connections = new Set<Connection>();
  private server?: Server;
  private refusing = false;
  private closed = false;
  private readonly counters: TcpProxyStats = {
    connections: 0,
    activeConnections: 0,
    bytesToServer: 0,
    bytesToClient: 0,
    commands: 0,
    commandsByName: {},
  };

  private constructor(
    readonly targetPort: number,
    private readonly targetHost: string,
    private listenPort: number,
  ) {}

  /** Starts a proxy on a free loopback port that forwards to `targetHost:targetPort` (default 127.0.0.1). */
  static async start(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort, targetHost, 0);
    await proxy.listen();
    return proxy;
  }

  /** The proxy's own port (stable across `refuse()`/`accept()`). */
  get port(): number {
    return this.listenPort;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.listenPort}`;
  }

  /** The current mode. */
  get currentMode(): TcpProxyMode {
    return this.mode;
  }

  /** Pass-through. Chunks already delayed keep their due time; held chunks are delivered now, in order. */
  passThrough(): void {
    this.setMode({ kind: 'pass' });
  }

  /**
   * Delays every chunk from Redis to the client by `delayMs` (measured from when the proxy received it); order is
   * kept. Requests are not delayed.
   */
  delay(delayMs: number): void {
    if (!(delayMs >= 0)) throw new TypeError(`delay(ms): ms must be >= 0, got ${delayMs}`);
    this.setMode({ kind: 'delay', delayMs });
  }

  /**
   * Holds replies: nothing reaches the clients (connections stay open, new ones are accepted and hang too) until
   * `release()` delivers the held bytes in order or `drop()` discards them. By default requests still reach Redis,
   * so commands run but their replies are lost to a client that gives up: the "slow or hung network" case. With
   * `{ holdRequests: true }` requests are held as well, so Redis sees nothing until release.
   */
  hang(options: { holdRequests?: boolean } = {}): void {
    this.setMode({ kind: 'hang', holdRequests: options.holdRequests ?? false });
  }

  /** Ends a `hang()` (or a delay): back to pass-through, everything held delivered now in order. */
  release(): void {
    this.setMode({ kind: 'pass' });
  }

  /**
   * Loses the current connections: every one is reset (TCP RST both ways) and whatever was held or delayed is
   * discarded; the mode goes back to pass-through. New connections are still accepted unless `refuse()`.
   */
  drop(): void {
    this.cut();
    this.mode = { kind: 'pass' };
  }

  /** Like `drop()` but keeps the mode (a hang stays a hang for the connections that come next). */
  cut(): void {
    for (const connection of [...this.connections]) this.destroyConnection(connection);
  }

  /**
   * Refuses new connections (the listening socket is closed, so connecting fails with ECONNREFUSED). Open
   * connections are not touched: combine with `drop()` for "Redis went away".
   */
  async refuse(): Promise<void> {
    this.refusing = true;
    // close() closes the listening socket at once; its callback would wait for the open connections, kept here.
    this.server?.close();
    this.server = undefined;
  }

  /** Accepts connections again, on the same port. */
  async accept(): Promise<void> {
    if (!this.refusing || this.closed) return;
    this.refusing = false;
    await this.listen();
  }

  /** A snapshot of the counters. */
  stats(): TcpProxyStats {
    return { ...this.counters, activeConnections: this.connections.size, commandsByName: { ...this.counters.commandsByName } };
  }

  resetStats(): void {
    Object.assign(this.counters, { connections: 0, bytesToServer: 0, bytesToClient: 0, commands: 0, commandsByName: {} });
  }

  /** Stops listening, resets every connection, clears every timer. */
  async close(): Promise<void> {
    this.closed = true;
    this.cut();
    await this.stopListening();
  }

  private setMode(mode: TcpProxyMode): void {
    this.mode = mode;
    for (const { toClient, toServer } of this.connections) {
      toServer.flush();
      toClient.flush();
    }
  }

  private async listen(): Promise<void> {
    // Half-open allowed on both sides: a client's FIN must not cut the replies still held or delayed for it.
    const server = createServer({ allowHalfOpen: true }, (client) => this.onConnection(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.listenPort, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.listenPort = (server.address() as { port: number }).port;
    this.server = server;
  }

  private async stopListening(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    // The callback waits for the server's connections, which cut() has reset.
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private onConnection(client: Socket): void {
    if (this.closed || this.refusing) {
      client.resetAndDestroy();
      return;
    }
    this.counters.connections++;
    const upstream = connect({ port: this.targetPort, host: this.targetHost, allowHalfOpen: true });
    const counter = new RespCommandCounter((name) => {
      this.counters.commands++;
      this.counters.commandsByName[name] = (this.counters.commandsByName[name] ?? 0) + 1;
    });
    const connection: Connection = {
      client,
      upstream,
      toClient: new Pipe(
        client,
        () => ({ held: this.mode.kind === 'hang', delayMs: this.mode.kind === 'delay' ? this.mode.delayMs : 0 }),
        (chunk) => (this.counters.bytesToClient += chunk.length),
      ),
      toServer: new Pipe(
        upstream,
        () => ({ held: this.mode.kind === 'hang' && this.mode.holdRequests, delayMs: 0 }),
        (chunk) => {
          this.counters.bytesToServer += chunk.length;
          counter.feed(chunk);
        },
      ),
    };
    this.connections.add(connection);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.on('data', (chunk: Buffer) => connection.toServer.push(chunk));
    upstream.on('data', (chunk: Buffer) => connection.toClient.push(chunk));
    // Redis closing a connection (QUIT, CLIENT KILL, shutdown) reaches the client after the replies before it.
    upstream.on('end', () => connection.toClient.push(END));
    client.on('end', () => connection.toServer.push(END));
    upstream.on('error', () => undefined);
    client.on('error', () => undefined);
    // A refused or reset upstream, or a client gone: the whole connection goes (reset, as a lost link would).
    upstream.on('close', (hadError) => {
      if (hadError) this.destroyConnection(connection);
    });
    client.on('close', () => this.destroyConnection(connection));
  }

  private destroyConnection(connection: Connection): void {
    if (!this.connections.delete(connection)) return;
    connection.toClient.discard();
    connection.toServer.discard();
    for (const socket of [connection.client, connection.upstream]) {
      if (socket.destroyed) continue;
      // A socket already half-closed (a QUIT: Redis ended it) is destroyed plainly: resetAndDestroy() on it spun the
      // event loop forever here (Node 20), so the test process never exited.
      if (socket.connecting || socket.writableEnded || socket.readableEnded) socket.destroy();
      else socket.resetAndDestroy();
    }
  }
}
