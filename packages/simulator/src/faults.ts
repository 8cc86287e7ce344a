/**
 * Fault classes and their rates. A run enables some classes by name; swarm
 * mode draws which classes are on and at what rates from the seed, so a
 * campaign explores many different mixes (TigerBeetle's swarm testing).
 */
import type { Random } from './random.js';

export const FAULT_CLASSES = ['network', 'crash', 'partition', 'clock', 'wipe', 'storage'] as const;
export type FaultClass = (typeof FAULT_CLASSES)[number];
export const FAULT_NAMES = ['none', ...FAULT_CLASSES, 'swarm', 'all'] as const;
export type FaultName = (typeof FAULT_NAMES)[number];

export interface FaultRates {
  /** Probability that a message is lost. */
  readonly lossRate: number;
  /** Probability that a message is delivered twice. */
  readonly duplicateRate: number;
  /**
   * Probability that a message is delivered once more, much later (uniform up to
   * replayDelayMaxMs): a stale copy that can outlive its sender's view and its receiver's
   * incarnation, as an asynchronous network allows.
   */
  readonly replayRate: number;
  readonly replayDelayMaxMs: number;
  /** One-way delay in ms: uniform in [delayMinMs, delayMaxMs]; different delays reorder. */
  readonly delayMinMs: number;
  readonly delayMaxMs: number;
  /** Mean time between crashes (0: never). Never more than f replicas are down at once. */
  readonly crashEveryMs: number;
  readonly downtimeMinMs: number;
  readonly downtimeMaxMs: number;
  /** Mean time between partitions (0: never). */
  readonly partitionEveryMs: number;
  readonly partitionMinMs: number;
  readonly partitionMaxMs: number;
  /** Timers run fast or slow by up to this fraction per replica. */
  readonly clockDrift: number;
  /** Mean time between wipes: a replica crashes and loses its disk, then recovers (0: never). */
  readonly wipeEveryMs: number;
  /** Mean time between corruptions of a stored record on one replica (0: never). At most f disks are damaged at once. */
  readonly corruptEveryMs: number;
  /** Probability that a crash tears the write it interrupts (a partly written record). */
  readonly tornWriteRate: number;
  /** How long an fsync takes: writes become durable, and the sends behind them leave, this much later. */
  readonly fsyncMinMs: number;
  readonly fsyncMaxMs: number;
}

const QUIET: FaultRates = {
  lossRate: 0,
  duplicateRate: 0,
  replayRate: 0,
  replayDelayMaxMs: 0,
  delayMinMs: 1,
  delayMaxMs: 3,
  crashEveryMs: 0,
  downtimeMinMs: 0,
  downtimeMaxMs: 0,
  partitionEveryMs: 0,
  partitionMinMs: 0,
  partitionMaxMs: 0,
  clockDrift: 0,
  wipeEveryMs: 0,
  corruptEveryMs: 0,
  tornWriteRate: 0,
  fsyncMinMs: 1,
  fsyncMaxMs: 3,
};

/** Parses `--faults` (a comma list). Throws with the valid names on anything else. */
export function parseFaults(text: string): FaultName[] {
  const names = text.split(',').map((name) => name.trim()).filter((name) => name.length > 0);
  if (names.length === 0) throw new Error(`--faults: expected one or more of ${FAULT_NAMES.join(', ')}`);
  for (const name of names) {
    if (!(FAULT_NAMES as readonly string[]).includes(name)) {
      throw new Error(`--faults: unknown fault '${name}'; expected a comma list of ${FAULT_NAMES.join(', ')}`);
    }
  }
  return names as FaultName[];
}

/** The rates a run uses: fixed rates for named classes, drawn ones for swarm. */
export function faultRates(
  names: readonly FaultName[],
  random: Random,
  overrides: Partial<FaultRates> = {},
): { rates: FaultRates; classes: FaultClass[] } {
  let classes = new Set<FaultClass>();
  const swarm = names.includes('swarm');
  for (const name of names) {
    if (name === 'all') FAULT_CLASSES.forEach((c) => classes.add(c));
    else if (name !== 'none' && name !== 'swarm') classes.add(name);
  }
  if (swarm) {
    // Each class on with probability 1/2 (at least one), each rate drawn.
    const drawn = FAULT_CLASSES.filter(() => random.chance(0.5));
    classes = new Set([...classes, ...(drawn.length > 0 ? drawn : [random.pick(FAULT_CLASSES)])]);
  }
  const rates: { -readonly [K in keyof FaultRates]: FaultRates[K] } = { ...QUIET };
  const scale = (fixed: number, lo: number, hi: number) => (swarm ? lo + (hi - lo) * random.float() : fixed);
  if (classes.has('network')) {
    rates.lossRate = scale(0.05, 0, 0.25);
    rates.duplicateRate = scale(0.02, 0, 0.1);
    rates.delayMinMs = 1;
    rates.delayMaxMs = Math.round(scale(20, 2, 80));
  }
  if (classes.has('crash')) {
    // A slow disk widens the window between a write and its fsync, where a crash loses the write.
    rates.fsyncMinMs = 1;
    rates.fsyncMaxMs = Math.round(scale(10, 2, 30));
    rates.crashEveryMs = Math.round(scale(400, 150, 2000));
    rates.downtimeMinMs = 50;
    rates.downtimeMaxMs = Math.round(scale(800, 100, 2000));
  }
  if (classes.has('partition')) {
    rates.partitionEveryMs = Math.round(scale(500, 150, 3000));
    rates.partitionMinMs = 100;
    rates.partitionMaxMs = Math.round(scale(800, 200, 2000));
  }
  if (classes.has('clock')) rates.clockDrift = scale(0.1, 0, 0.3);
  if (classes.has('storage')) {
    rates.corruptEveryMs = Math.round(scale(300, 200, 4000));
    rates.tornWriteRate = scale(0.5, 0, 1);
    // Damage is found at boot, so the class restarts replicas too.
    rates.crashEveryMs ||= Math.round(scale(400, 150, 2000));
    rates.downtimeMinMs ||= 50;
    rates.downtimeMaxMs ||= 800;
  }
  if (classes.has('wipe')) {
    rates.wipeEveryMs = Math.round(scale(600, 200, 3000));
    rates.downtimeMinMs ||= 50;
    rates.downtimeMaxMs ||= 800;
  }
  // Drawn last, so that adding replays left every other rate of a seed as it was.
  if (classes.has('network')) {
    rates.replayRate = scale(0.01, 0, 0.03);
    rates.replayDelayMaxMs = Math.round(scale(1500, 200, 3000));
  }
  return { rates: { ...rates, ...overrides }, classes: FAULT_CLASSES.filter((c) => classes.has(c)) };
}
