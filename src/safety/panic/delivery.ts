import type { EventEmitter } from 'node:events';
import type { Server } from 'socket.io';
import type { Alert, PanicFanout } from './alert.ts';
import type { Incident } from '../../domain/incident.ts';

/**
 * Knows which socket.io connections (engine.io sockets) hold an alert they have not been sent
 * yet: a long-polling client gets packets only with its next poll, and a WebSocket whose previous
 * frame is still being written queues the next one. `delivered()` waits until every connection
 * that was left holding an alert has handed it to its transport (or closed), so that the raiser
 * is answered only after the responders have been sent the alarm.
 */
export class AlertDelivery {
  /** Connections with an alert queued and not yet flushed to their transport. */
  readonly #holding = new Set<EventEmitter>();
  /** Connections that queued a packet during the current capture. */
  #captured: Set<EventEmitter> | undefined;
  readonly #queued = new Set<EventEmitter>();
  /** Connections that did not flush within a wait: not waited for again until they flush (a dead client costs one wait). */
  readonly #late = new Set<EventEmitter>();
  readonly #waiters = new Set<() => void>();

  constructor(io: Server) {
    io.engine.on('connection', (socket: EventEmitter) => {
      socket.on('packetCreate', () => {
        this.#queued.add(socket);
        this.#captured?.add(socket);
      });
      const flushed = () => {
        this.#queued.delete(socket);
        this.#late.delete(socket);
        if (this.#holding.delete(socket)) for (const w of this.#waiters) w();
      };
      socket.on('drain', flushed);
      socket.on('close', flushed);
    });
  }

  /** Runs an alert fan-out and remembers the connections it left holding the alert. */
  capture<T>(fanout: () => T): T {
    const captured = new Set<EventEmitter>();
    this.#captured = captured;
    try {
      return fanout();
    } finally {
      this.#captured = undefined;
      for (const s of captured) if (this.#queued.has(s)) this.#holding.add(s);
    }
  }

  /**
   * Resolves once every connection holding an alert now has flushed it (or closed), or after
   * `maxWaitMs` (a dead long-polling client does not hold a reply longer, and is not waited for
   * again until it flushes): true if all were sent.
   */
  delivered(maxWaitMs: number): Promise<boolean> {
    const waiting = new Set([...this.#holding].filter((s) => !this.#late.has(s)));
    if (waiting.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = () => {
        for (const s of waiting) if (!this.#holding.has(s)) waiting.delete(s);
        if (waiting.size === 0) finish(true);
      };
      const finish = (all: boolean) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        if (!all) for (const s of waiting) this.#late.add(s);
        resolve(all);
      };
      const timer = setTimeout(() => finish(false), maxWaitMs);
      timer.unref();
      this.#waiters.add(check);
    });
  }

  /** The fan-out with alerts captured, and `delivered` for the service to wait on. */
  wrap(inner: PanicFanout): PanicFanout {
    return {
      alertClinicians: (room: string, alert: Alert) => this.capture(() => inner.alertClinicians(room, alert)),
      alertDesks: (room: string, alert: Alert) => this.capture(() => inner.alertDesks(room, alert)),
      announceToRoom: (room: string, incident: Incident) => inner.announceToRoom(room, incident),
      update: (room: string, event: string, payload: object, raiserIdentity: string) => inner.update(room, event, payload, raiserIdentity),
      delivered: (maxWaitMs: number) => this.delivered(maxWaitMs),
      resumed: (incidents: readonly Incident[]) => inner.resumed?.(incidents),
    };
  }
}
