/**
 * A seeded fuzz test against a running three-replica cluster (in this
 * process: `serve()` three times on 127.0.0.1, shared secret, fast timeouts).
 * For about 30 s it sends, several connections at once:
 *
 * - unauthenticated bytes on the peer ports (random bytes, random and huge
 *   lengths in frame headers, truncated and dribbled frames, random JSON,
 *   deep nesting, handshake frames with wrong types and fields, auth frames
 *   claiming the wrong replica or with a wrong MAC);
 * - sealed frames on a real authenticated link to replica 0 as replica 1
 *   or 2: mutated protocol messages of every type, other replicas' ids,
 *   broken seals;
 * - client frames after `{type:'client'}`: random client ids, request
 *   numbers and operations (deep, 2 MB), registered sessions, garbage;
 * - raw HTTP requests (random methods, paths, headers, bodies).
 *
 * It fails on an uncaught exception, a replica that stops, a cluster that no
 * longer takes a PUT and a linearizable GET through every replica, a lost
 * acknowledged write of its honest client, a heap over 1.5 GB, or a
 * refusal the protocol promises that does not happen (twice). The fuzzing
 * logic is in `fuzzing.ts` (its header says exactly what is sent and checked);
 * `bench/fuzz.ts` runs it for longer.
 *
 * The seed is printed. Replay one with
 *
 *   VSR_FUZZ_SEED=1234 npx -y pnpm@12.21.0 exec vitest run packages/kv-service/test/fuzz.test.ts
 *
 * (VSR_FUZZ_SECONDS changes the fuzzing time; timing makes a replay send the
 * same inputs in the same order per kind, not necessarily as many.)
 *
 * When this file was written both tests failed, on defects the fuzzer found
 * (left failing on purpose, not fixed here):
 * - any connection to a peer port can stop a replica process: the auth frame
 *   `{"type":"auth","replica":{"toString":1}}` makes the listener's refusal
 *   message call `String()` on the claimed id, which throws (tcp-transport.ts,
 *   `auth names replica ${String(dialerId)}`), uncaught in the socket's data
 *   handler; the same on an authenticated link (`a message claiming replica
 *   ${String(claimed)}`). The random fuzz hits it within seconds;
 * - a cluster in view Number.MAX_SAFE_INTEGER stops at its next view change
 *   (the second test).
 */
import { expect, test } from 'vitest';
import { HEAP_LIMIT_BYTES, formatReport, fuzzSeed, probeViewHeadroom, runFuzz } from './fuzzing.js';

const seed = fuzzSeed();
const seconds = Number(process.env['VSR_FUZZ_SECONDS'] ?? 30);

test(
  `seeded fuzz of peer frames, client frames and HTTP requests (seed ${seed}): replicas keep running and serving, no acknowledged write is lost, heap under ${HEAP_LIMIT_BYTES / 2 ** 30} GB`,
  async () => {
    console.log(`fuzz seed ${seed} (replay: VSR_FUZZ_SEED=${seed} npx -y pnpm@12.21.0 exec vitest run packages/kv-service/test/fuzz.test.ts)`);
    const report = await runFuzz({ seed, durationMs: seconds * 1_000, batchMs: 3_000, log: (line) => console.log(line) });
    const text = formatReport(report);
    console.log(text);
    expect(report.findings, text).toEqual([]);
    expect(report.heapMaxBytes).toBeLessThan(HEAP_LIMIT_BYTES);
    expect(report.honest.readBack).toBe(report.honest.acknowledged);
    expect(report.honest.acknowledged).toBeGreaterThan(0);
    for (const inputs of Object.values(report.inputs)) expect(inputs).toBeGreaterThan(0);
  },
  // 30 s of fuzzing, its checks, the cluster's start and the final read-back.
  (seconds + 15) * 1_000,
);

// Found with this fuzzer while its view jumps could reach 2^53 − 1: a replica in view Number.MAX_SAFE_INTEGER could
// not change views (the next view, 2^53, is not a safe integer, and the one after it rounds to 2^53 again), so
// the view-change timeout tripped the core's "view change to view n from view n" invariant and the replicas
// stopped one after another. The core now refuses messages naming a view above VIEW_NUMBER_MAX (2^48). The
// random fuzz above keeps its view jumps far below that (at most 2^31 each); this deterministic test guards it.
test(
  'an authenticated StartViewChange for view Number.MAX_SAFE_INTEGER, then a primary failure: the other replicas keep running, complete a view change and serve',
  async () => {
    const probe = await probeViewHeadroom({ log: (line) => console.log(line) });
    const text = [...probe.steps, ...probe.findings.map((f) => `FINDING [${f.kind}] ${f.message}${f.stack === undefined ? '' : `\n${f.stack}`}`), ...probe.lines].join('\n');
    expect(probe.findings, text).toEqual([]);
  },
  50_000,
);
