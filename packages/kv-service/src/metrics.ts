/**
 * Prometheus metrics for one replica process, with prom-client (the
 * standard Node client: text format, histograms and process metrics done
 * right, rather than hand-formatted lines).
 *
 * - the replica's position: view, op and commit numbers, status, primary;
 * - every core telemetry event, counted by name (from the diagnostics
 *   channels `startReplica` publishes on);
 * - HTTP requests by method, route and status code, and their latency;
 * - the process's own metrics (CPU, memory, event-loop lag);
 * - when the sources are given: flush and fsync durations, journal and
 *   checkpoint bytes, each peer link's state, last contact and round-trip
 *   time, client connections against their cap, refused inputs by reason,
 *   and build info.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { TimedTelemetry } from '@vsr/node';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { TELEMETRY_NAMES } from '@vsr/core';
import type { PeerLinkStatus, ReplicaStatus } from '@vsr/node';

/** Where the gauges read from, at each scrape. */
export interface MetricSources {
  readonly peers?: () => readonly PeerLinkStatus[];
  readonly clientConnections?: () => { readonly open: number; readonly max: number };
  /** Refused inputs so far, by reason (each source's counts, merged by the caller). */
  readonly refusals?: () => ReadonlyMap<string, number>;
  /** Bytes on disk by file (`journal` and `checkpoint` for the journal store, `data.mdb` for LMDB). */
  readonly storageBytes?: () => Readonly<Record<string, number>>;
  readonly build?: { readonly version: string };
}

export interface ServiceMetrics {
  readonly registry: Registry;
  observeHttp(method: string, route: string, code: number, seconds: number): void;
  /** One flush of the store (a group commit's writes and fsyncs). */
  observeFlush(durationMs: number): void;
  /** One journal fsync. */
  observeFsync(durationMs: number): void;
  /** Stops listening to telemetry. */
  close(): void;
}

const STATUSES = ['normal', 'view-change', 'recovering'] as const;

export function serviceMetrics(status: () => ReplicaStatus, sources: MetricSources = {}): ServiceMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  sourceGauges(registry, sources);
  const storageSeconds = (name: string, help: string) =>
    new Histogram({ name, help, buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [registry] });
  const flushSeconds = storageSeconds('vsr_storage_flush_duration_seconds', 'One flush of the store: a group commit\'s writes and fsyncs.');
  const fsyncSeconds = storageSeconds('vsr_storage_fsync_duration_seconds', 'One fsync of the journal.');

  statusGauges(registry, status);

  const events = new Counter({
    name: 'vsr_telemetry_events_total',
    help: 'Telemetry events the core emitted, by event name.',
    labelNames: ['event'],
    registers: [registry],
  });
  const applySeconds = storageSeconds(
    'vsr_operation_apply_step_duration_seconds',
    'The step that applied committed ops (the reducer has no clock: the runtime times the step carrying vsr.operation.applied).',
  );
  const listeners = TELEMETRY_NAMES.map((name) => {
    const listener = (event: unknown) => {
      events.inc({ event: name });
      const stepDurationMs = (event as Partial<TimedTelemetry> | null)?.stepDurationMs;
      if (name === 'vsr.operation.applied' && typeof stepDurationMs === 'number') applySeconds.observe(stepDurationMs / 1000);
    };
    subscribe(name, listener);
    return [name, listener] as const;
  });

  const requests = new Counter({
    name: 'vsr_http_requests_total',
    help: 'HTTP requests served, by method, route and status code.',
    labelNames: ['method', 'route', 'code'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'vsr_http_request_duration_seconds',
    help: 'HTTP request latency, from the request to the response, by route.',
    labelNames: ['route'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });

  return {
    registry,
    observeHttp(method, route, code, seconds) {
      requests.inc({ method, route, code: String(code) });
      latency.observe({ route }, seconds);
    },
    observeFlush: (durationMs) => flushSeconds.observe(durationMs / 1000),
    observeFsync: (durationMs) => fsyncSeconds.observe(durationMs / 1000),
    close() {
      for (const [name, listener] of listeners) unsubscribe(name, listener);
    },
  };
}

/** The replica's position (view, op, commit, primary) and status, read at each scrape. */
function statusGauges(registry: Registry, status: () => ReplicaStatus): void {
  const position = (name: string, help: string, read: (s: ReplicaStatus) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read(status()));
      },
    });
  position('vsr_view_number', 'The view this replica is in.', (s) => s.viewNumber);
  position('vsr_op_number', 'The highest op number in this replica\'s log.', (s) => s.opNumber);
  position('vsr_commit_number', 'The highest op number this replica knows committed.', (s) => s.commitNumber);
  position('vsr_primary', 'The primary of this replica\'s view (replica id).', (s) => s.primary);
  position('vsr_is_primary', '1 if this replica is the primary of its view and in normal status.', (s) =>
    s.status === 'normal' && s.primary === s.replicaId ? 1 : 0,
  );
  new Gauge({
    name: 'vsr_status',
    help: '1 for the status the replica is in (normal, view-change, recovering), 0 for the others.',
    labelNames: ['status'],
    registers: [registry],
    collect() {
      const current = status().status;
      for (const name of STATUSES) this.set({ status: name }, current === name ? 1 : 0);
    },
  });
}

/** The gauges read from `sources` at each scrape. */
function sourceGauges(registry: Registry, sources: MetricSources): void {
  const gauge = (name: string, help: string, labelNames: string[], collect: (g: Gauge) => void) =>
    new Gauge({ name, help, labelNames, registers: [registry], collect() { collect(this); } });
  const { peers, clientConnections, refusals, storageBytes, build } = sources;
  if (peers !== undefined) {
    gauge('vsr_peer_connected', '1 if the outgoing link to the peer is authenticated.', ['peer'], (g) => {
      for (const peer of peers()) g.set({ peer: String(peer.replicaId) }, peer.connected ? 1 : 0);
    });
    gauge('vsr_peer_heard_ago_seconds', 'Seconds since anything authenticated arrived from the peer (-1: never).', ['peer'], (g) => {
      for (const peer of peers()) g.set({ peer: String(peer.replicaId) }, peer.heardAgoMs === null ? -1 : peer.heardAgoMs / 1000);
    });
    gauge('vsr_peer_rtt_seconds', 'The last ping round-trip time to the peer (-1: none yet).', ['peer'], (g) => {
      for (const peer of peers()) g.set({ peer: String(peer.replicaId) }, peer.rttMs === null ? -1 : peer.rttMs / 1000);
    });
  }
  if (clientConnections !== undefined) {
    gauge('vsr_client_connections', 'Client connections open on the peer port.', [], (g) => g.set(clientConnections().open));
    gauge('vsr_client_connections_max', 'The cap on client connections.', [], (g) => g.set(clientConnections().max));
  }
  if (refusals !== undefined) {
    gauge('vsr_refused_inputs', 'Inputs refused so far (frames, handshakes, requests, connections), by reason.', ['reason'], (g) => {
      for (const [reason, count] of refusals()) g.set({ reason }, count);
    });
  }
  if (storageBytes !== undefined) {
    gauge('vsr_storage_bytes', 'Bytes of the store on disk, by file.', ['file'], (g) => {
      for (const [file, bytes] of Object.entries(storageBytes())) g.set({ file }, bytes);
    });
  }
  if (build !== undefined) {
    gauge('vsr_build_info', 'Always 1; the labels say what runs.', ['version', 'node'], (g) => g.set({ version: build.version, node: process.version }, 1));
  }
}
