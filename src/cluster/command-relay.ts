import { randomUUID } from 'node:crypto';
import type { Logger } from '../telemetry/logger.ts';
import type { RedisLink } from './redis.ts';

/** The largest command or reply carried (bytes of JSON): a panic command is far smaller. */
const MAX_MESSAGE_BYTES = 16 * 1024;

/**
 * Commands to whichever node holds something (an open panic incident) over Redis pub/sub
 * (docs/scaling.md, "Alarms on every node"): a request is published to every node on
 * `<prefix>panic-commands`; the node whose handler answers (the one holding the incident) publishes
 * its answer on `<prefix>panic-replies:<requesting node>`; the requester takes the first answer, or
 * gives up after the timeout. Bodies are opaque JSON here: the safety layer validates them.
 */
export class CommandRelay {
  readonly #link: RedisLink;
  readonly #nodeId: string;
  readonly #log: Logger;
  readonly #waiting = new Map<string, (reply: unknown) => void>();
  #handler: ((body: unknown) => Promise<unknown>) | undefined;

  constructor(o: { link: RedisLink; nodeId: string; log: Logger }) {
    this.#link = o.link;
    this.#nodeId = o.nodeId;
    this.#log = o.log;
    o.link.subscribe(`panic-replies:${o.nodeId}`, (message) => {
      const m = parse(message);
      if (!m || typeof m.id !== 'string') return;
      this.#waiting.get(m.id)?.(m.reply);
    });
    o.link.subscribe('panic-commands', (message) => {
      const m = parse(message);
      if (!m || typeof m.id !== 'string' || typeof m.from !== 'string' || m.from === this.#nodeId || !this.#handler) return;
      const { id, from } = m;
      void this.#handler(m.body).then((reply) => {
        if (reply === undefined) return;
        this.#link.publish(`panic-replies:${from}`, JSON.stringify({ id, reply })).catch((err: unknown) => {
          this.#log.warn({ err: err instanceof Error ? err.message : String(err), to: from }, 'cluster: a panic command reply could not be published');
        });
      }, (err: unknown) => this.#log.error({ err }, 'cluster: a panic command handler threw'));
    });
  }

  /** Handles commands of other nodes: resolves with the reply, or undefined when this node does not hold the subject (no reply). */
  serve(handler: (body: unknown) => Promise<unknown>): void {
    this.#handler = handler;
  }

  /** Sends a command to every other node; resolves with the first reply, or undefined after `timeoutMs` (or at once when Redis is down). */
  async request(body: unknown, timeoutMs: number): Promise<unknown> {
    const id = randomUUID();
    return new Promise((resolve) => {
      const done = (reply: unknown) => {
        clearTimeout(timer);
        this.#waiting.delete(id);
        resolve(reply);
      };
      const timer = setTimeout(() => done(undefined), timeoutMs);
      timer.unref();
      this.#waiting.set(id, done);
      this.#link.publish('panic-commands', JSON.stringify({ id, from: this.#nodeId, body })).catch(() => done(undefined));
    });
  }
}

function parse(message: string): Record<string, unknown> | undefined {
  if (message.length > MAX_MESSAGE_BYTES) return undefined;
  try {
    const v: unknown = JSON.parse(message);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
