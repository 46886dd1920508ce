/**
 * `use_original_dst` (Envoy's `hand_off_restored_destination_connections`): a connection whose
 * local address a listener filter restored (original_dst) moves to the listener bound to that
 * address, the exact `ip:port` first, else the wildcard address of its family with the same
 * port; without one it stays where it was accepted. Each worker isolate keeps its own bound
 * listeners here (a connection never leaves the worker that accepted it), newest first so that
 * a listener replaced by LDS hands its place to the new one.
 *
 * @module
 */

/** What the hand-off needs to know of a listener. */
export interface HandOffTarget {
  /** The configured IP of the bound address. */
  readonly ip: string;
  /** The bound port. */
  readonly port: number;
}

/** This isolate's bound listeners, oldest first. */
const bound: HandOffTarget[] = [];

/** A listener is bound (and accepts connections handed to it). */
export function addHandOffTarget(l: HandOffTarget): void {
  bound.push(l);
}

/** A listener stopped (it no longer takes connections). */
export function removeHandOffTarget(l: HandOffTarget): void {
  const i = bound.indexOf(l);
  if (i >= 0) bound.splice(i, 1);
}

/** The listener a connection restored to `ip`:`port` belongs to, or undefined. */
export function findHandOffTarget<T extends HandOffTarget>(
  ip: string,
  port: number,
): T | undefined {
  const wildcard = ip.includes(":") ? "::" : "0.0.0.0";
  let any: HandOffTarget | undefined;
  for (let i = bound.length - 1; i >= 0; i--) {
    const l = bound[i];
    if (l.port !== port) continue;
    if (l.ip === ip) return l as T;
    if (l.ip === wildcard) any ??= l;
  }
  return any as T | undefined;
}
