import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { NodeView } from './node-score.ts';

/** The largest presence record read off Redis; a longer one is ignored unparsed. */
export const MAX_PRESENCE_BYTES = 2048;

const Count = Type.Integer({ minimum: 0, maximum: 1e9 });

/** A node's presence record (version 1), the value of `<prefix>node:<id>` (expires unless renewed). */
const PresenceRecord = Type.Object({
  v: Type.Literal(1),
  node: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._-]+$' }),
  url: Type.String({ minLength: 1, maxLength: 512, pattern: '^https?://[^\\s/?#]+/?$' }),
  draining: Type.Boolean(),
  cpu: Type.Number({ minimum: 0, maximum: 1 }),
  consumers: Count,
  rooms: Count,
  workers: Count,
}, { additionalProperties: false });

type PresenceRecord = Static<typeof PresenceRecord>;

const check = TypeCompiler.Compile(PresenceRecord);

export function encodePresence(n: NodeView): string {
  const r: PresenceRecord = {
    v: 1, node: n.node, url: n.url, draining: n.draining,
    cpu: Math.max(0, Math.min(1, Math.round(n.load.cpu * 1000) / 1000)),
    consumers: n.load.consumers, rooms: n.load.rooms, workers: n.load.workers,
  };
  return JSON.stringify(r);
}

/** Reads a presence record strictly; undefined when it is not one (too large, not JSON, not version 1's fields). */
export function decodePresence(raw: string): NodeView | undefined {
  if (raw.length > MAX_PRESENCE_BYTES) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (!check.Check(parsed)) return undefined;
  const r = parsed;
  return { node: r.node, url: r.url, draining: r.draining, load: { cpu: r.cpu, consumers: r.consumers, rooms: r.rooms, workers: r.workers } };
}
