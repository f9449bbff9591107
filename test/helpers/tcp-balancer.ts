import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A plain TCP load balancer on 127.0.0.1 for the cluster tests: round-robin over the backends, no
 * stickiness; a backend that refuses the connection (a killed node) is skipped for the next one.
 * Carries HTTP and WebSocket alike (it never looks inside), like a layer-4 balancer in front of nodes.
 */
export class TcpBalancer {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #backends: number[];
  #next = 0;

  readonly #host: string;
  readonly #listenHost: string;

  private constructor(server: Server, backends: number[], host: string, listenHost: string) {
    this.#server = server;
    this.#backends = backends;
    this.#host = host;
    this.#listenHost = listenHost;
  }

  /**
   * Backends on `backendHost` (127.0.0.1; a test's own namespace address for a forwarder to it);
   * listening on `listenHost` (127.0.0.1; a veth's host address for pages in a namespace).
   */
  static async start(backendPorts: number[], backendHost = '127.0.0.1', listenHost = '127.0.0.1'): Promise<TcpBalancer> {
    const server = createServer();
    const lb = new TcpBalancer(server, [...backendPorts], backendHost, listenHost);
    server.on('connection', (client) => lb.#route(client));
    await new Promise<void>((resolve) => server.listen(0, listenHost, resolve));
    return lb;
  }

  /** http://<listen host>:<port> */
  get url(): string {
    return `http://${this.#listenHost}:${(this.#server.address() as { port: number }).port}`;
  }

  /** Replaces the backends (e.g. a node restarted on another port). */
  setBackends(ports: number[]): void {
    this.#backends = [...ports];
  }

  close(): void {
    this.#server.close();
    for (const s of this.#sockets) s.destroy();
  }

  #route(client: Socket, tried = 0): void {
    this.#sockets.add(client);
    client.once('close', () => this.#sockets.delete(client));
    const ports = this.#backends;
    if (tried >= ports.length) {
      client.destroy();
      return;
    }
    const port = ports[this.#next++ % ports.length]!;
    client.pause();
    const upstream = connect(port, this.#host);
    upstream.once('connect', () => {
      this.#sockets.add(upstream);
      upstream.once('close', () => this.#sockets.delete(upstream));
      client.pipe(upstream).pipe(client);
      client.resume();
      client.once('error', () => upstream.destroy());
      upstream.once('error', () => client.destroy());
      client.once('close', () => upstream.destroy());
      upstream.once('close', () => client.destroy());
    });
    upstream.once('error', () => {
      if (upstream.connecting || !upstream.remotePort) this.#route(client, tried + 1);
    });
  }
}
