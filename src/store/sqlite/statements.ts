import type { DatabaseSync, StatementSync } from 'node:sqlite';

/**
 * Prepared statements by SQL text, prepared once per database: compiling the SQL on every call
 * showed up in the signalling profile (bench/profile-node.ts).
 */
export function statementCache(db: DatabaseSync): (sql: string) => StatementSync {
  const cache = new Map<string, StatementSync>();
  return (sql) => {
    let s = cache.get(sql);
    if (!s) {
      s = db.prepare(sql);
      cache.set(sql, s);
    }
    return s;
  };
}
