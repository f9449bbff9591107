import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/** What a resume token proves: the session (participant id) and the node that issued it. */
export interface ResumeClaim {
  readonly sessionId: string;
  /** The node that hosted the session when the token was issued ('' on a single node). */
  readonly node: string;
}

const VERSION = 'r1';
const PURPOSE = 'sfu-resume-token-v1';
const SESSION_ID = /^[A-Za-z0-9-]{1,64}$/;

/**
 * Resume tokens (docs/protocol.md, "Reconnecting"): `r1.<session id>.<node, base64url>.<mac>`, the
 * MAC an HMAC-SHA256 over (room, identity, session id, node) under a key derived (HKDF) from the
 * records key. Every node of a cluster shares the records keys, so any node can check a token
 * another node issued (a session restored after its node was lost, docs/scaling.md "Node loss");
 * the newest key signs, any configured one checks (key rotation). Bound to the room and identity
 * of the grant that presents it.
 */
export class ResumeTokens {
  readonly #keys: Buffer[];
  readonly #node: string;

  constructor(recordKeys: readonly { readonly key: Buffer }[], node: string) {
    if (recordKeys.length === 0) throw new Error('resume tokens need a records key');
    this.#keys = recordKeys.map((k) => Buffer.from(hkdfSync('sha256', k.key, Buffer.alloc(0), PURPOSE, 32)));
    this.#node = node;
  }

  issue(room: string, identity: string, sessionId: string): string {
    const node = Buffer.from(this.#node).toString('base64url');
    return `${VERSION}.${sessionId}.${node}.${this.#mac(this.#keys[0]!, room, identity, sessionId, this.#node)}`;
  }

  /** The claim of a token issued for this room and identity; undefined for anything else. */
  read(token: string, room: string, identity: string): ResumeClaim | undefined {
    const parts = token.split('.');
    if (parts.length !== 4 || parts[0] !== VERSION || !SESSION_ID.test(parts[1]!)) return undefined;
    const sessionId = parts[1]!;
    const node = Buffer.from(parts[2]!, 'base64url').toString();
    const given = Buffer.from(parts[3]!);
    for (const key of this.#keys) {
      const want = Buffer.from(this.#mac(key, room, identity, sessionId, node));
      if (want.length === given.length && timingSafeEqual(want, given)) return { sessionId, node };
    }
    return undefined;
  }

  #mac(key: Buffer, room: string, identity: string, sessionId: string, node: string): string {
    return createHmac('sha256', key).update([VERSION, room, identity, sessionId, node].join('\u001f')).digest('base64url');
  }
}
