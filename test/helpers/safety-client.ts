import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';

export type Transport = 'websocket' | 'polling';

/** A real socket.io client on /safety (long-polling only, or WebSocket only); `extra`: e.g. `ca` for an https URL. */
export async function safetyClient(url: string, token: string, transport: Transport, extra: Partial<ManagerOptions & SocketOptions> = {}): Promise<SafetyClient> {
  const socket = io(`${url}/safety`, { path: '/socket.io', auth: { token }, transports: [transport], reconnection: false, forceNew: true, ...extra });
  const client = new SafetyClient(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', (err) => reject(Object.assign(err, { code: (err as { data?: { code?: string } }).data?.code })));
  });
  return client;
}

export class SafetyClient {
  readonly socket: Socket;
  readonly events: { event: string; data: any; at: number }[] = [];

  constructor(socket: Socket) {
    this.socket = socket;
    socket.onAny((event: string, data: unknown) => this.events.push({ event, data, at: performance.now() }));
  }

  /** Emits with an acknowledgement; resolves with the reply envelope. */
  send(event: string, data: unknown, timeoutMs = 5000): Promise<any> {
    return this.socket.timeout(timeoutMs).emitWithAck(event, data);
  }

  async waitFor(event: string, pred: (d: any) => boolean = () => true, timeoutMs = 5000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.events.find((e) => e.event === event && pred(e.data));
      if (hit) return hit.data;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${event}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  close(): void {
    this.socket.disconnect();
  }
}
