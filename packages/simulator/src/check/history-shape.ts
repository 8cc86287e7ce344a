/**
 * What both linearizability checkers require of every operation in a history before they search
 * it: a unique safe-integer id, a client id, a finite call time, and a return time that is null
 * (indeterminate) or finite and not before the call. Each checker adds its own checks of the
 * operation (`identity`, run after the id and client checks) and of its outcome (`outcome`,
 * after the times).
 */
export interface TimedOperation {
  readonly id: number;
  readonly clientId: unknown;
  readonly callMs: number;
  readonly returnMs: number | null;
}

type Fail = (message: string) => never;

export function validateOperationShapes<T extends TimedOperation>(
  history: readonly T[],
  checker: string,
  checks: { readonly identity?: (op: T, fail: Fail) => void; readonly outcome?: (op: T, fail: Fail) => void } = {},
): void {
  const failAt = (where: string, message: string): never => {
    throw new Error(`${checker}: ${where}: ${message}`);
  };
  const indexOfId = new Map<number, number>();
  history.forEach((op, index) => {
    if (!Number.isSafeInteger(op.id)) failAt(`history[${index}]`, `id must be a safe integer, got ${String(op.id)}`);
    const where = `operation id ${op.id} (history[${index}])`;
    const fail: Fail = (message) => failAt(where, message);
    const earlier = indexOfId.get(op.id);
    if (earlier !== undefined) fail(`duplicate id, also at history[${earlier}]`);
    indexOfId.set(op.id, index);
    if (typeof op.clientId !== 'string') fail('clientId must be a string');
    checks.identity?.(op, fail);
    if (!Number.isFinite(op.callMs)) fail(`callMs must be a finite number, got ${String(op.callMs)}`);
    if (op.returnMs !== null) {
      if (!Number.isFinite(op.returnMs)) fail(`returnMs must be a finite number or null, got ${String(op.returnMs)}`);
      if (op.returnMs < op.callMs) fail(`returnMs (${op.returnMs}) is before callMs (${op.callMs})`);
    }
    checks.outcome?.(op, fail);
  });
}
