/** Shared by the storage and runtime tests: reading and tampering with IndexedDB databases directly. */
import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';

export { IDBFactory };

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('request failed'));
  });
}

export async function databaseNames(factory: IDBFactory): Promise<string[]> {
  return (await factory.databases()).map((info) => info.name ?? '').sort();
}

/** Opens an existing database at its current version (never creating or upgrading it). */
export async function openExisting(factory: IDBFactory, name: string): Promise<IDBDatabase> {
  if (!(await databaseNames(factory)).includes(name)) throw new Error(`no database ${name}`);
  return request(factory.open(name));
}

export type Dump = { version: number; stores: Record<string, Array<[IDBValidKey, unknown]>> };

/** Every store's keys and values, and the version: to compare a database before and after. */
export async function dump(factory: IDBFactory, name: string): Promise<Dump> {
  const database = await openExisting(factory, name);
  try {
    const names = [...database.objectStoreNames];
    const stores: Dump['stores'] = {};
    if (names.length > 0) {
      const transaction = database.transaction(names, 'readonly');
      for (const store of names) {
        const keys = await request(transaction.objectStore(store).getAllKeys());
        const values = await request(transaction.objectStore(store).getAll());
        stores[store] = keys.map((key, i) => [key, values[i]]);
      }
    }
    return { version: database.version, stores };
  } finally {
    database.close();
  }
}

/** Puts (or, with `undefined`, deletes) raw values in one transaction. */
export async function tamper(factory: IDBFactory, name: string, writes: Array<[store: string, key: IDBValidKey, value: unknown]>): Promise<void> {
  const database = await openExisting(factory, name);
  try {
    const transaction = database.transaction([...new Set(writes.map(([store]) => store))], 'readwrite');
    for (const [store, key, value] of writes) {
      if (value === undefined) transaction.objectStore(store).delete(key);
      else transaction.objectStore(store).put(value, key);
    }
    await new Promise<void>((resolve, reject) => {
      transaction.oncomplete = () => resolve();
      transaction.onerror = () => reject(transaction.error ?? new Error('transaction failed'));
    });
  } finally {
    database.close();
  }
}

/** A database at a higher IndexedDB version than the store's (as a future build would leave it). */
export async function upgradeTo(factory: IDBFactory, name: string, version: number): Promise<void> {
  const req = factory.open(name, version);
  req.onupgradeneeded = () => req.result.createObjectStore(`added-in-${version}`);
  (await request(req)).close();
}
