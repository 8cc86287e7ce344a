/**
 * One harness run, in the manner of `maelstrom test -w lin-kv --nemesis partition`: n nodes
 * behind the harness's network (network.ts), clients bound to nodes round-robin issuing random
 * operations (clients.ts), and a nemesis that, phase after phase, cuts a minority off, heals,
 * cuts the primary's side off (the primary alone, or with fewer than half the others), and
 * heals. The history is then checked with the project's linearizability checker.
 *
 * The seed fixes every choice the harness makes (operations, delays, which nodes are cut); the
 * processes' own timing is real, so a seed replays the same plan, not the same interleaving.
 */
import { Random, type CheckResult } from '@vsr/simulator';
import { LinKvClient } from './clients.js';
import { checkEvents, countEvents, type HistoryEvent, type KvHistoryOperation } from './history.js';
import { MaelstromNetwork } from './network.js';

export interface CampaignOptions {
  readonly seed: number;
  readonly nodeCount?: number;
  readonly clientCount?: number;
  /** How long clients issue operations. */
  readonly durationMs?: number;
  /** Each message waits a uniform 0..delayMsMax ms. */
  readonly delayMsMax?: number;
  readonly keyCount?: number;
  readonly valueMax?: number;
  /** How long a client waits for an answer: 1 s, as Maelstrom's lin-kv clients at its default latency. */
  readonly clientTimeoutMs?: number;
  /** Partitions on (default) or off. */
  readonly nemesis?: boolean;
  /** How long each nemesis phase lasts. */
  readonly phaseMs?: number;
  readonly nodeArgs?: readonly string[];
  /** Progress lines (the nemesis's actions). */
  readonly log?: (line: string) => void;
  /** Search steps for the checker (its default otherwise). */
  readonly checkStepsMax?: number;
}

export interface CampaignResult {
  readonly seed: number;
  readonly events: readonly HistoryEvent[];
  readonly operations: readonly KvHistoryOperation[];
  readonly check: CheckResult;
  readonly counts: ReturnType<typeof countEvents>;
  /** What the nemesis did, with times: `1200ms cut n2 | n1 n3 (minority)`. */
  readonly nemesis: readonly string[];
  /** Nodes the nemesis cut off as the primary they were then. */
  readonly primariesCut: readonly string[];
  /** When the nemesis healed the network, in ms since the run started. */
  readonly healedAtMs: readonly number[];
  readonly stdoutPollution: readonly string[];
  readonly stderr: ReadonlyMap<string, readonly string[]>;
  readonly delivered: number;
  readonly dropped: number;
  /** Nodes whose process had ended before the run stopped them. */
  readonly nodesDead: readonly string[];
}

const DEFAULTS = { nodeCount: 3, clientCount: 4, durationMs: 8_000, delayMsMax: 5, keyCount: 3, valueMax: 4, clientTimeoutMs: 1_000, nemesis: true, phaseMs: 1_200 };

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function runCampaign(options: CampaignOptions): Promise<CampaignResult> {
  const settings = { ...DEFAULTS, ...options };
  const random = new Random(settings.seed);
  const [networkRandom, nemesisRandom] = [random.fork(), random.fork()];
  const clients = new Map<string, LinKvClient>();
  const network = new MaelstromNetwork({
    nodeCount: settings.nodeCount,
    random: networkRandom,
    delayMsMax: settings.delayMsMax,
    nodeArgs: settings.nodeArgs ?? [],
    onClientMessage: (dest, body) => clients.get(dest)?.receive(body),
  });
  const events: HistoryEvent[] = [];
  try {
    await network.start();
    const startMs = performance.now();
    const nowMs = () => Math.round((performance.now() - startMs) * 1000) / 1000;
    for (let index = 0; index < settings.clientCount; index++) {
      const name = `c${index + 1}`;
      const node = network.nodeIds[index % network.nodeIds.length] ?? 'n1';
      const clientOptions = { keyCount: settings.keyCount, valueMax: settings.valueMax, timeoutMs: settings.clientTimeoutMs };
      clients.set(name, new LinKvClient(name, node, (src, dest, body) => network.sendFromClient(src, dest, body), (event) => events.push(event), random.fork(), nowMs, clientOptions));
    }
    const nemesis = new Nemesis(network, nemesisRandom, nowMs, settings.log);
    const running = [...clients.values()].map((client) => client.runUntil(settings.durationMs));
    if (settings.nemesis) await nemesis.run(settings.durationMs, settings.phaseMs);
    await Promise.all(running);
    network.heal();
    const { operations, result } = checkEvents(events, settings.checkStepsMax);
    const nodesDead = network.nodeIds.filter((nodeId) => !network.isAlive(nodeId));
    return {
      seed: settings.seed,
      events,
      operations,
      check: result,
      counts: countEvents(events),
      nemesis: nemesis.actions,
      primariesCut: nemesis.primariesCut,
      healedAtMs: nemesis.healedAtMs,
      stdoutPollution: network.pollution,
      stderr: network.stderr,
      ...network.stats,
      nodesDead,
    };
  } finally {
    await network.stop();
  }
}

/** The partition schedule: minority cut, heal, primary's side cut, heal, and again. */
class Nemesis {
  readonly actions: string[] = [];
  readonly primariesCut: string[] = [];
  readonly healedAtMs: number[] = [];

  constructor(
    private readonly network: MaelstromNetwork,
    private readonly random: Random,
    private readonly nowMs: () => number,
    private readonly log: ((line: string) => void) | undefined,
  ) {}

  async run(durationMs: number, phaseMs: number): Promise<void> {
    const plan = ['minority', 'heal', 'primary', 'heal'] as const;
    let cut = false;
    for (let phase = 0; ; phase++) {
      await sleep(phaseMs);
      if (this.nowMs() + phaseMs > durationMs) break; // No whole phase left: the run ends healed.
      const action = plan[phase % plan.length] ?? 'heal';
      if (action === 'heal') this.heal();
      else this.cut(action);
      cut = action !== 'heal';
    }
    if (cut) this.heal();
  }

  private heal(): void {
    this.network.heal();
    this.healedAtMs.push(this.nowMs());
    this.note('heal');
  }

  /** Cuts off fewer than half the nodes: random ones, or the primary and random others. */
  private cut(kind: 'minority' | 'primary'): void {
    const nodeIds = [...this.network.nodeIds];
    const sideSize = Math.max(1, Math.floor((nodeIds.length - 1) / 2));
    const primary = this.network.primary;
    const side: string[] = [];
    if (kind === 'primary' && primary !== null) {
      side.push(primary);
      this.primariesCut.push(primary);
    }
    while (side.length < sideSize) {
      const candidate = this.random.pick(nodeIds.filter((nodeId) => !side.includes(nodeId)));
      side.push(candidate);
    }
    const rest = nodeIds.filter((nodeId) => !side.includes(nodeId));
    this.network.partition([side, rest]);
    this.note(`cut ${side.join(' ')} | ${rest.join(' ')} (${kind === 'primary' ? `the primary${primary === null ? ' unknown yet: a random side' : ` ${primary}`}` : 'minority'})`);
  }

  private note(what: string): void {
    const line = `${Math.round(this.nowMs())}ms ${what}`;
    this.actions.push(line);
    this.log?.(line);
  }
}
