/**
 * What the demo page drives, whichever mode it runs in: three workers of one
 * page (over MessageChannel), or one replica in this tab with its peers in
 * other tabs (over BroadcastChannel). The page's form, table, buttons and
 * diagram, and the test hook, see only this.
 */
import type { KvOperation, KvResult } from '@vsr/kv';
import type { HistoryOperation } from '@vsr/simulator/diagram';

export type DemoMode = 'workers' | 'tabs';

/** One row of the replica table. */
export interface ReplicaRow {
  readonly replicaId: number;
  /** 'booting', 'normal', 'view-change', 'recovering'; 'down' while crashed; 'unknown' before anything was heard. */
  readonly status: string;
  readonly viewNumber: number | null;
  readonly opNumber: number | null;
  readonly commitNumber: number | null;
  readonly primary: boolean;
  /** Its links to every peer are cut (the demo's partition). */
  readonly cut: boolean;
  /** This page hosts it (in tabs mode, only this tab's replica). */
  readonly local: boolean;
}

export interface DemoCluster {
  readonly mode: DemoMode;
  readonly replicaCount: number;
  /** The cluster id (part of each IndexedDB database's name). */
  readonly cluster: number;
  /** This page's client id. */
  readonly clientId: string;
  /** Sends one operation through the page's client; recorded in the history. */
  request(operation: KvOperation): Promise<KvResult>;
  /** A fresh client of its own (another client id), for concurrent load; recorded in the history under its id. */
  newClient(): { readonly clientId: string; request(operation: KvOperation): Promise<KvResult> };
  rows(): ReplicaRow[];
  history(): HistoryOperation[];
  crash(replicaId: number): Promise<void>;
  restart(replicaId: number): Promise<void>;
  wipe(replicaId: number): Promise<void>;
  partition(replicaId: number, cut: boolean): Promise<void>;
  /** Messages the replicas refused (malformed input), with their reasons, newest last. */
  refusals(): ReadonlyArray<{ readonly replicaId: number; readonly reason: string; readonly detail: string }>;
  /** Every start of a replica this page hosts, in order: how it booted (fresh, restored, lost) and why it was lost. */
  boots(): ReadonlyArray<{ readonly replicaId: number; readonly boot: string; readonly damage: string | null }>;
  /** For the tests: raw input on this page's channels to a replica, to show it is refused. */
  readonly inject: {
    /** Posts `data` on a new client port of the replica (workers mode; in tabs mode on the cluster's BroadcastChannel). */
    clientFrame(replicaId: number, data: unknown): void;
    /** Posts `data` to the replica's worker as if it were a command. */
    workerCommand(replicaId: number, data: unknown): void;
  };
  /** Graceful: every replica flushes and stops. */
  close(): Promise<void>;
}
