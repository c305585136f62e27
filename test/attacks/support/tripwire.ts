import { createServer, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP listener that must never be contacted: the `jku` / `x5u` URLs of the corpus point at it. It
 * counts every connection (HTTP, TLS or anything else) and closes it at once, so a verifier that followed a URL
 * from a token would be caught whatever protocol it spoke.
 */
export class Tripwire {
  private connections = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {
    server.on('connection', (socket) => {
      this.connections++;
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.destroy();
    });
  }

  static async start(): Promise<Tripwire> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return new Tripwire(server, (server.address() as { port: number }).port);
  }

  /** `http://127.0.0.1:<port><path>` (and https: the listener counts a TLS hello just the same). */
  url(path: string, scheme: 'http' | 'https' = 'https'): string {
    return `${scheme}://127.0.0.1:${this.port}${path}`;
  }

  /** Connections received since start. */
  get contacted(): number {
    return this.connections;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
