import { join } from 'node:path';
import { ConfigError } from '../config/load.ts';
import { FieldCipher, type DataKey } from './cipher.ts';
import { SqliteStore } from './sqlite/sqlite-store.ts';
import type { Store } from './types.ts';

/** The one place that picks the store: SQLite in the data dir by default, PostgreSQL by URL. */
export async function openStore(url: string, dataDir: string, keys: DataKey[]): Promise<Store> {
  const cipher = new FieldCipher(keys);
  let store: Store;
  if (url === '' || url.startsWith('sqlite:')) {
    const file = url === '' ? join(dataDir, 'records.db') : url.slice('sqlite:'.length);
    store = new SqliteStore(file, cipher);
  } else if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const { PostgresStore } = await import('./postgres/postgres-store.ts');
    store = PostgresStore.connect(url, cipher);
  } else {
    throw new ConfigError(['store.url must be empty (SQLite in the data dir), sqlite:<file> or postgres://...']);
  }
  await store.migrate();
  return store;
}
