import { join } from 'node:path';
import { ConfigError } from '../config/load.ts';
import { FieldCipher } from './cipher.ts';
import type { DataKey } from '../config/secrets.ts';
import { SqliteStore } from './sqlite/sqlite-store.ts';
import type { Store } from './types.ts';
import type { StoreTimeouts } from './unavailable.ts';

/**
 * The one place that picks the store: SQLite in the data dir by default, PostgreSQL by URL.
 * `timeouts`: store.callTimeoutMs and store.sqliteBusyTimeoutMs (defaults: DEFAULT_TIMEOUTS).
 */
export async function openStore(url: string, dataDir: string, keys: DataKey[], timeouts: Partial<StoreTimeouts> = {}): Promise<Store> {
  const cipher = new FieldCipher(keys);
  let store: Store;
  if (url === '' || url.startsWith('sqlite:')) {
    const file = url === '' ? join(dataDir, 'records.db') : url.slice('sqlite:'.length);
    store = new SqliteStore(file, cipher, timeouts);
  } else if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const { PostgresStore } = await import('./postgres/postgres-store.ts');
    store = PostgresStore.connect(url, cipher, timeouts);
  } else {
    throw new ConfigError(['store.url must be empty (SQLite in the data dir), sqlite:<file> or postgres://...']);
  }
  try {
    await store.migrate();
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
  return store;
}
