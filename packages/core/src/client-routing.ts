/**
 * Where a client sends a request after a redirect (VR Revisited §4.1: a client that reaches a
 * backup is told the primary of the backup's view). A redirect is a hint, not a fact: a
 * recovering replica names the primary of the view it last knew, perhaps the one that crashed,
 * and a client that always followed would be traded back and forth between the two while a
 * quorum served. So a client does not follow a redirect from a view older than one it has heard
 * from, nor one naming a replica that just stayed silent for this request: it tries the next
 * replica after the one that redirected it that has not stayed silent. Every client uses this
 * (the runtimes' `ClientCore`, the simulator's clients), so they follow one rule.
 */

export interface Redirect {
  /** The replica that sent the redirect. */
  readonly from: number;
  /** The redirect's view and the primary it names. */
  readonly viewNumber: number;
  readonly primary: number;
}

export interface ClientRouting {
  readonly replicaCount: number;
  /** The newest view the client has heard a reply or a redirect from. */
  readonly viewNumberKnown: number;
  /** Replicas that stayed silent for this request (a timeout passed), and have not answered since. */
  readonly silent: ReadonlySet<number>;
}

/**
 * Where the request goes next (`to`), whether that follows the redirect, the view the client
 * knows of now, and the replica to forgive: one passed over is passed over once, so a later
 * redirect to it is followed (it may be back, and the primary); the caller drops it from `silent`.
 */
export function routeAfterRedirect(
  redirect: Redirect,
  routing: ClientRouting,
): { readonly follow: boolean; readonly to: number; readonly viewNumberKnown: number; readonly forgive: number | null } {
  const primary = redirect.primary % routing.replicaCount;
  if (redirect.viewNumber < routing.viewNumberKnown || routing.silent.has(primary)) {
    return { follow: false, to: nextReplicaAfter(redirect.from, routing), viewNumberKnown: routing.viewNumberKnown, forgive: primary };
  }
  return { follow: true, to: primary, viewNumberKnown: redirect.viewNumber, forgive: null };
}

/** The first replica after `from`, in ring order, that has not stayed silent; the very next if all have. */
function nextReplicaAfter(from: number, routing: Pick<ClientRouting, 'replicaCount' | 'silent'>): number {
  const { replicaCount, silent } = routing;
  for (let step = 1; step < replicaCount; step++) {
    const replicaId = (from + step) % replicaCount;
    if (!silent.has(replicaId)) return replicaId;
  }
  return (from + 1) % replicaCount;
}
