/**
 * How a refused message is named in its `reject` effect: type, sender and view. That is enough
 * to find it in a trace, and it never copies the body, which may be large and is untrusted.
 */
export function describeInput(m: { readonly type: string; readonly replica: number; readonly viewNumber: number }): string {
  return `${m.type} from replica ${m.replica} in view ${m.viewNumber}`;
}
