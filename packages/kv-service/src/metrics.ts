/**
 * Prometheus metrics for one replica process, with prom-client (the
 * standard Node client: text format, histograms and process metrics done
 * right, rather than hand-formatted lines).
 *
 * - the replica's position: view, op and commit numbers, status, primary;
 * - every core telemetry event, counted by name (from the diagnostics
 *   channels `startReplica` publishes on);
 * - HTTP requests by method, route and status code, and their latency;
 * - the process's own metrics (CPU, memory, event-loop lag).
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { TELEMETRY_NAMES } from '@vsr/core';
import type { ReplicaStatus } from '@vsr/node';

export interface ServiceMetrics {
  readonly registry: Registry;
  observeHttp(method: string, route: string, code: number, seconds: number): void;
  /** Stops listening to telemetry. */
  close(): void;
}

const STATUSES = ['normal', 'view-change', 'recovering'] as const;

export function serviceMetrics(status: () => ReplicaStatus): ServiceMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const position = (name: string, help: string, read: (s: ReplicaStatus) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read(status()));
      },
    });
  position('vsr_view_number', 'The view this replica is in.', (s) => s.view);
  position('vsr_op_number', 'The highest op number in this replica\'s log.', (s) => s.op);
  position('vsr_commit_number', 'The highest op number this replica knows committed.', (s) => s.commit);
  position('vsr_primary', 'The primary of this replica\'s view (replica id).', (s) => s.primary);
  position('vsr_is_primary', '1 if this replica is the primary of its view and in normal status.', (s) =>
    s.status === 'normal' && s.primary === s.replica ? 1 : 0,
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

  const events = new Counter({
    name: 'vsr_telemetry_events_total',
    help: 'Telemetry events the core emitted, by event name.',
    labelNames: ['event'],
    registers: [registry],
  });
  const listeners = TELEMETRY_NAMES.map((name) => {
    const listener = () => events.inc({ event: name });
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
    close() {
      for (const [name, listener] of listeners) unsubscribe(name, listener);
    },
  };
}
