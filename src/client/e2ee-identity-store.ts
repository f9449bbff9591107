/**
 * This tab's E2EE identity keys kept for a reload (docs/security.md, "Key schedule"): the server
 * keeps a resumed session's public key (docs/protocol.md), so a page that comes back by resuming
 * must hold the same key pair. IndexedDB stores the private key as a WebCrypto CryptoKey, still
 * not extractable (its bytes are never readable by script); one entry per tab (a random id in
 * sessionStorage), deleted when the session ends. Best effort: without IndexedDB a reload makes a
 * new pair, and keys sent to the old one cannot be opened (the others send theirs again on reconnect).
 */
import type { IdentityKeys } from './e2ee-keys.ts';

const DB = 'sfu-e2ee';
const STORE = 'identity';
const TAB_KEY = 'sfu.e2eeTab.v1';
/** Our sender key's last epoch (a number, nothing secret): a reloaded page goes on from it, since the others hold that epoch's key. */
const EPOCH_KEY = 'sfu.e2eeEpoch.v1';

export function rememberEpoch(epoch: number | undefined): void {
  try {
    if (epoch === undefined) sessionStorage.removeItem(EPOCH_KEY);
    else sessionStorage.setItem(EPOCH_KEY, String(epoch));
  } catch { /* no storage: a reload starts at epoch 0 */ }
}

export function lastEpoch(): number | undefined {
  try {
    const v = Number(sessionStorage.getItem(EPOCH_KEY) ?? Number.NaN);
    return Number.isInteger(v) && v >= 0 ? v : undefined;
  } catch {
    return undefined;
  }
}

function tabId(): string | undefined {
  try {
    let id = sessionStorage.getItem(TAB_KEY);
    if (!id) {
      id = crypto.randomUUID();
      sessionStorage.setItem(TAB_KEY, id);
    }
    return id;
  } catch {
    return undefined;
  }
}

/** IndexedDB never holds up a join: an open or a request that takes longer counts as no storage. */
const DEADLINE_MS = 1500;

function open(): Promise<IDBDatabase | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), DEADLINE_MS);
    const done = (db: IDBDatabase | undefined) => { clearTimeout(timer); resolve(db); };
    try {
      const req = indexedDB.open(DB, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(STORE);
      req.onsuccess = () => done(req.result);
      req.onerror = () => done(undefined);
      req.onblocked = () => done(undefined);
    } catch {
      done(undefined);
    }
  });
}

async function run<T>(mode: IDBTransactionMode, op: (store: IDBObjectStore) => IDBRequest<T>): Promise<T | undefined> {
  const db = await open();
  if (!db) return undefined;
  return new Promise((resolve) => {
    const timer = setTimeout(() => { resolve(undefined); db.close(); }, DEADLINE_MS);
    const done = (v: T | undefined) => { clearTimeout(timer); resolve(v); db.close(); };
    try {
      const req = op(db.transaction(STORE, mode).objectStore(STORE));
      req.onsuccess = () => done(req.result);
      req.onerror = () => done(undefined);
    } catch {
      done(undefined);
    }
  });
}

export async function loadIdentity(): Promise<IdentityKeys | undefined> {
  const id = tabId();
  if (!id) return undefined;
  const v = await run('readonly', (s) => s.get(id) as IDBRequest<IdentityKeys | undefined>);
  return v && typeof v.publicKey === 'string' && v.privateKey ? v : undefined;
}

export async function saveIdentity(keys: IdentityKeys): Promise<void> {
  const id = tabId();
  if (id) await run('readwrite', (s) => s.put({ publicKey: keys.publicKey, privateKey: keys.privateKey }, id));
}

export async function deleteIdentity(): Promise<void> {
  const id = tabId();
  if (id) await run('readwrite', (s) => s.delete(id));
}
