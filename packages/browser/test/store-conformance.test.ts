/**
 * The IndexedDB store against the exported conformance suite, on fake-indexeddb (a fresh
 * IDBFactory per place). A flush is one strict transaction, so it lands whole; there are no
 * torn tails (a transaction never lands in part), so the torn-tail property is skipped. The
 * corruption hook changes one character of a sealed record (`{ checksum, json }`) behind the
 * store's back, leaving its checksum.
 */
import { describe, test } from 'vitest';
import type { ReplicaStore } from '@vsr/runtime';
import { describeStoreConformance, type StoreAdapter } from '../../store-conformance/src/index.js';
import { IndexedDbStorage, replicaDatabaseName } from '../src/index.js';
import { IDBFactory, dump, tamper } from './support/idb.js';

const NAME = replicaDatabaseName(0, 0);

type IndexedDbStore = ReplicaStore & { readonly storage: IndexedDbStorage };

/** IndexedDbStorage as a ReplicaStore: its report has no torn tail to tell of. */
function asReplicaStore(storage: IndexedDbStorage): IndexedDbStore {
  return {
    storage,
    report: { boot: storage.report.boot, damage: storage.report.damage, tornTail: false },
    apply: (effect) => storage.apply(effect),
    get dirty() {
      return storage.dirty;
    },
    flush: () => storage.flush(),
    settle: () => storage.settle(),
    close: () => storage.close(),
  };
}

const isSealed = (value: unknown): value is { checksum: number; json: string } =>
  typeof value === 'object' && value !== null && typeof (value as { json?: unknown }).json === 'string';

/** Changes one character of one sealed record (a digit to another digit, anything else to the next code unit). */
async function corruptRecord(factory: IDBFactory, choice: number): Promise<string> {
  const { stores } = await dump(factory, NAME);
  const records = Object.entries(stores).flatMap(([store, entries]) => entries.filter(([, value]) => isSealed(value)).map(([key, value]) => ({ store, key, value })));
  const record = records[choice % records.length];
  if (record === undefined || !isSealed(record.value)) return 'nothing (the store holds no sealed record)';
  const { json } = record.value;
  const at = Math.floor(choice / records.length) % json.length;
  const old = json.charAt(at);
  const replacement = /\d/.test(old) ? String((Number(old) + 1) % 10) : String.fromCharCode(old.charCodeAt(0) + 1);
  await tamper(factory, NAME, [[record.store, record.key, { ...record.value, json: json.slice(0, at) + replacement + json.slice(at + 1) }]]);
  return `character ${at} of ${record.store}/${JSON.stringify(record.key)}: ${JSON.stringify(old)} → ${JSON.stringify(replacement)}`;
}

const indexedDbStore: StoreAdapter<IDBFactory, IndexedDbStore> = {
  name: 'IndexedDbStorage (fake-indexeddb)',
  place: () => new IDBFactory(),
  open: async (factory, { create }) => asReplicaStore(await IndexedDbStorage.open({ cluster: 0, replicaId: 0, create, indexedDB: factory, nonce: () => 7 })),
  crash: (store) => store.storage.crash(),
  flushAtomicity: 'whole',
  corrupt: corruptRecord,
};

describeStoreConformance(indexedDbStore, { numRuns: 60 }, { describe, test, skip: test.skip });
