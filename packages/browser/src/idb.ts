/**
 * Promises over IndexedDB's event-based requests and transactions, and the
 * one thing about opening a database that the store needs to know: whether
 * it existed before this open.
 */

/** The request's result once it succeeds; its error otherwise. */
export function requestResult<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error('IndexedDB request failed'));
  });
}

/**
 * Resolves when the transaction's `complete` fires (with durability 'strict',
 * once its writes are on disk); rejects when it fails or is aborted.
 */
export function transactionDone(transaction: IDBTransaction): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    transaction.oncomplete = () => resolve();
    transaction.onerror = () => reject(transaction.error ?? new Error('IndexedDB transaction failed'));
    transaction.onabort = () => reject(transaction.error ?? new Error('IndexedDB transaction aborted'));
  });
}

export interface OpenedDatabase {
  readonly database: IDBDatabase;
  /** False when this open created the database (it did not exist). */
  readonly existed: boolean;
}

/**
 * Opens `name` at `version`, running `upgrade` when it is created or older.
 * Rejects with the browser's error (a `VersionError` when the database is at
 * a newer version than `version`, which changes nothing).
 */
export function openDatabase(factory: IDBFactory, name: string, version: number, upgrade: (database: IDBDatabase) => void): Promise<OpenedDatabase> {
  return new Promise<OpenedDatabase>((resolve, reject) => {
    let existed = true;
    const request = factory.open(name, version);
    request.onupgradeneeded = (event) => {
      existed = event.oldVersion !== 0;
      upgrade(request.result);
    };
    request.onsuccess = () => resolve({ database: request.result, existed });
    request.onerror = () => reject(request.error ?? new Error(`IndexedDB: could not open ${name}`));
    request.onblocked = () => reject(new Error(`IndexedDB: opening ${name} is blocked by another connection at an older version`));
  });
}

/** Deletes a database; resolves once it is gone (or never existed). */
export function deleteDatabase(factory: IDBFactory, name: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const request = factory.deleteDatabase(name);
    request.onsuccess = () => resolve();
    request.onerror = () => reject(request.error ?? new Error(`IndexedDB: could not delete ${name}`));
  });
}

/** Every key and value of one object store, in key order. */
export async function readAll(transaction: IDBTransaction, storeName: string): Promise<Array<[IDBValidKey, unknown]>> {
  const store = transaction.objectStore(storeName);
  const [keys, values] = await Promise.all([requestResult(store.getAllKeys()), requestResult(store.getAll())]);
  return keys.map((key, index) => [key, values[index]]);
}
