import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach } from 'vitest';
import { FieldCipher } from '../../src/store/cipher.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { storeSuite, type StoreHarness } from '../store/store-suite.ts';

let dir: string;
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'sfu-sqlite-')); });
afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

function raw<T>(fn: (db: DatabaseSync) => T): T {
  const db = new DatabaseSync(join(dir, 'records.db'));
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

storeSuite('SQLite', (): StoreHarness => ({
  async open(keys) {
    const s = new SqliteStore(join(dir, 'records.db'), new FieldCipher(keys));
    await s.migrate();
    return s;
  },
  async exec(sql) {
    raw((db) => db.exec(sql));
  },
  async dump() {
    return raw((db) => ['sessions', 'consents', 'locations', 'audit', 'revocations', 'incidents', 'incident_events', 'webhook_attempts']
      .map((t) => JSON.stringify(db.prepare(`SELECT * FROM ${t}`).all())).join('\n'));
  },
}));
