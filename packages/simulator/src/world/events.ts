/** What the world's event queue holds. */
import type { ClientRead, ClientRequest, Message, Reply, TimerName } from '@vsr/core';
import type { ScheduledFault } from './types.js';

export type WorldEvent =
  | { kind: 'deliver'; id: number; from: number; to: number; message: Message }
  | { kind: 'request'; to: number; client: number; request: ClientRequest | ClientRead }
  | { kind: 'reply'; client: number; reply: Reply }
  | { kind: 'timer'; replica: number; timer: TimerName; generation: number }
  | { kind: 'fsync'; replica: number; incarnation: number }
  | { kind: 'checkpoint-written'; replica: number; incarnation: number }
  | { kind: 'client-timeout'; client: number; generation: number }
  | { kind: 'client-next'; client: number }
  | { kind: 'crash-tick' }
  | { kind: 'wipe-tick' }
  | { kind: 'corrupt-tick' }
  | { kind: 'partition-tick' }
  | { kind: 'restart'; replica: number }
  | { kind: 'heal-partition'; partition: number }
  | { kind: 'convergence-check' }
  | { kind: 'liveness-check' }
  | { kind: 'scheduled'; fault: ScheduledFault };
