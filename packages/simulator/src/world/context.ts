/**
 * What every part of the world shares: the options, the clock and event queue, the random
 * streams (one per subsystem, so one's draws never shift another's), the fault rates, the
 * counters of the summary and the recorder.
 */
import { faultsTolerated } from '@vsr/core';
import { EventQueue } from '../queue.js';
import { Random } from '../random.js';
import { faultRates, type FaultClass, type FaultRates } from '../faults.js';
import type { WorldEvent } from './events.js';
import { Recorder } from './trace.js';
import type { SimulationOptions } from './types.js';

export class Counters {
  issued = 0;
  requestsOk = 0;
  /** Of requestsOk, the reads answered without the log. */
  readsDirect = 0;
  crashes = 0;
  restarts = 0;
  wipes = 0;
  recoveries = 0;
  storageFaults = 0;
  repairs = 0;
  stateTransfers = 0;
  checkpoints = 0;
  checkpointsInstalled = 0;
  logEntriesMax = 0;
  partitions = 0;
  messagesSent = 0;
  messagesDropped = 0;
  rejectedInputs = 0;
  steps = 0;
  events = 0;
  readonly viewsCompleted = new Set<number>();
}

export class WorldContext {
  readonly networkRandom: Random;
  readonly faultRandom: Random;
  readonly clientRandom: Random;
  readonly workloadRandom: Random;
  /** When the clients pause together (the idle stretches in which a healthy cluster must stay quiet). */
  readonly lullRandom: Random;
  /** Which messages the network delivers again much later, and when (its own stream: runs without replays keep their draws). */
  readonly replayRandom: Random;
  readonly rates: FaultRates;
  readonly classes: FaultClass[];
  readonly f: number;
  readonly queue = new EventQueue<WorldEvent>();
  readonly counters = new Counters();
  readonly recorder: Recorder;
  nowMs = 0;
  faultsActive = true;
  faultsEndedMs = Number.POSITIVE_INFINITY;
  /** The last fault event (a crash, restart, wipe, partition or heal, a lost message): view changes need one. */
  lastFaultMs = Number.NEGATIVE_INFINITY;
  finished = false;
  /** Replicas a partial heal left crashed or cut off until the workload ends (empty: a full heal). */
  leftOut: readonly number[] = [];

  constructor(readonly options: SimulationOptions<unknown, unknown, unknown>) {
    // The order of these forks is part of what a seed means: changing it changes every run.
    const random = new Random(options.seed);
    this.networkRandom = random.fork();
    this.faultRandom = random.fork();
    this.clientRandom = random.fork();
    const drawn = faultRates(options.faults, random.fork(), options.rates);
    this.rates = drawn.rates;
    this.classes = drawn.classes;
    this.f = faultsTolerated(options.replicaCount);
    this.workloadRandom = this.clientRandom.fork();
    this.lullRandom = random.fork();
    this.replayRandom = random.fork();
    this.recorder = new Recorder(options.trace ?? false, this);
  }

  get tracing(): boolean {
    return this.recorder.tracing;
  }

  /** A fault happened now: the quiet clock of the spurious-view-change check restarts. */
  noteFault(): void {
    this.lastFaultMs = this.nowMs;
  }

  /** Reports a violation and ends the run. */
  fail(message: string): void {
    this.recorder.violation(message);
    this.finished = true;
  }
}
