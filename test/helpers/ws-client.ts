import WebSocket from 'ws';

export interface ErrorReply { code: string; message: string }

/** A valid consent for any role (a guardian consents, electronically, to the current policy). */
export const TEST_CONSENT = {
  policyVersion: '2026-09',
  scopes: ['telehealth'],
  grantedBy: { relation: 'guardian', name: 'Test Guardian' },
  method: 'electronic',
};

/** A valid location with an emergency contact. */
export const TEST_LOCATION = {
  description: 'Test School, room 4',
  region: 'US-CA',
  source: 'self-reported',
  capturedAt: '2026-11-22T09:00:00.000Z',
  emergencyContact: { name: 'Test Contact', phone: '+1 555 0100' },
};
export interface Notification { notification: string; data: any }

/** A real WebSocket signalling client for tests: request/response by id, notifications in order. */
export class RtcClient {
  readonly ws: WebSocket;
  readonly notifications: Notification[] = [];
  #nextId = 1;
  /** Adds TEST_CONSENT and TEST_LOCATION to join requests that carry neither. */
  autoConsent = true;
  #pending = new Map<number | string | null, (msg: any) => void>();
  #waiters: { name: string; pred: (d: any) => boolean; resolve: (d: any) => void }[] = [];
  /** Replies with id null (envelope errors). */
  readonly orphanReplies: any[] = [];
  closeInfo: Promise<{ code: number; reason: string }>;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    this.closeInfo = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on('message', (raw) => {
      const msg = JSON.parse(raw.toString());
      if ('notification' in msg) {
        this.notifications.push(msg);
        this.#waiters = this.#waiters.filter((w) => {
          if (w.name === msg.notification && w.pred(msg.data)) { w.resolve(msg.data); return false; }
          return true;
        });
        return;
      }
      const cb = this.#pending.get(msg.id);
      if (cb) { this.#pending.delete(msg.id); cb(msg); } else this.orphanReplies.push(msg);
    });
  }

  /** Opens a socket; rejects with {status, body} when the upgrade is refused. `ca`: the CA of a wss:// URL. */
  static connect(url: string, opts: { token?: string; room?: string; headers?: Record<string, string>; autoConsent?: boolean; ca?: string } = {}): Promise<RtcClient> {
    const u = new URL(url);
    if (opts.token) u.searchParams.set('token', opts.token);
    if (opts.room) u.searchParams.set('room', opts.room);
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(u, { headers: opts.headers ?? {}, ...(opts.ca ? { ca: opts.ca } : {}) });
      const client = new RtcClient(ws);
      client.autoConsent = opts.autoConsent ?? true;
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => { body += c.toString(); });
        res.on('end', () => reject({ status: res.statusCode, body: body ? JSON.parse(body) : undefined }));
      });
      ws.once('error', (err) => reject(err));
    });
  }

  /** Sends a request and resolves with the whole response envelope. */
  raw(method: string, data?: unknown): Promise<any> {
    const id = this.#nextId++;
    if (method === 'join' && this.autoConsent && data && typeof data === 'object' && !('consent' in data) && !('location' in data) && !('resumeToken' in data)) {
      data = { consent: TEST_CONSENT, location: TEST_LOCATION, ...data };
    }
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      this.ws.send(JSON.stringify({ id, method, ...(data === undefined ? {} : { data }) }));
    });
  }

  /** Sends a request; resolves with data or rejects with the coded error. */
  async request(method: string, data?: unknown): Promise<any> {
    const res = await this.raw(method, data);
    if (!res.ok) throw Object.assign(new Error(`${method}: ${res.error.code} ${res.error.message}`), { code: res.error.code });
    return res.data;
  }

  /** Sends arbitrary text and resolves with the next reply that has no matching request (rejects after `timeoutMs`). */
  sendText(text: string | Buffer, timeoutMs = 5000): Promise<any> {
    return new Promise((resolve, reject) => {
      const before = this.orphanReplies.length;
      const deadline = Date.now() + timeoutMs;
      const check = () => {
        if (this.orphanReplies.length > before) resolve(this.orphanReplies[before]);
        else if (Date.now() > deadline) reject(new Error('timed out waiting for a reply with no matching request'));
        else setTimeout(check, 5);
      };
      this.ws.send(text);
      check();
    });
  }

  /** Resolves with the first notification (already received or future) matching name and predicate. */
  waitFor(name: string, pred: (d: any) => boolean = () => true, timeoutMs = 5000): Promise<any> {
    const seen = this.notifications.find((n) => n.notification === name && pred(n.data));
    if (seen) return Promise.resolve(seen.data);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for ${name}`)), timeoutMs);
      this.#waiters.push({ name, pred, resolve: (d) => { clearTimeout(t); resolve(d); } });
    });
  }

  close(): void {
    this.ws.close();
  }
}

/** Minimal RTP parameters a PlainTransport-free test can produce with (no packets are sent). */
export function opusParameters(ssrc = 11111111) {
  return {
    codecs: [{ mimeType: 'audio/opus', payloadType: 111, clockRate: 48000, channels: 2, parameters: {}, rtcpFeedback: [] }],
    encodings: [{ ssrc }],
    headerExtensions: [],
    rtcp: { cname: `cname-${ssrc}`, reducedSize: true },
  };
}

export function vp8Parameters(ssrc = 22222222) {
  return {
    codecs: [{ mimeType: 'video/VP8', payloadType: 96, clockRate: 90000, parameters: {}, rtcpFeedback: [{ type: 'nack' }, { type: 'ccm', parameter: 'fir' }] }],
    encodings: [{ ssrc }],
    headerExtensions: [],
    rtcp: { cname: `cname-${ssrc}`, reducedSize: true },
  };
}
