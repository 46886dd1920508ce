/**
 * What changed between two memberships of a cluster, as Envoy's host set updates report it:
 * hosts added and removed per priority level (an update without either only changes health,
 * weight or metadata, and may be merged), hosts gone from the cluster altogether (their
 * connection pools drain), and hosts that stayed but turned unhealthy
 * (`close_connections_on_host_health_failure`).
 *
 * @module
 */
import { type HostDescription, hostKey } from "./host.ts";
import type { PrioritySetSnapshot } from "./priority_set.ts";

/** The difference between two memberships. */
export interface MembershipDiff {
  /** No host was added to or removed from any priority level (Envoy's mergeable update). */
  readonly mergeable: boolean;
  /** Hosts (by address and port) in no level any more. */
  readonly removed: readonly HostDescription[];
  /** Hosts that were healthy and still are members, now unhealthy. */
  readonly turnedUnhealthy: readonly HostDescription[];
}

function byKey(s: PrioritySetSnapshot): Map<string, HostDescription> {
  const m = new Map<string, HostDescription>();
  for (const set of s.hostSets) for (const h of set.hosts) m.set(hostKey(h), h);
  return m;
}

function sameKeys(a: readonly HostDescription[], b: readonly HostDescription[]): boolean {
  if (a.length !== b.length) return false;
  const keys = new Set(a.map(hostKey));
  return b.every((h) => keys.has(hostKey(h)));
}

/** Compares `before` with `after`. */
export function diffMembership(
  before: PrioritySetSnapshot,
  after: PrioritySetSnapshot,
): MembershipDiff {
  let mergeable = true;
  const levels = Math.max(before.hostSets.length, after.hostSets.length);
  for (let p = 0; p < levels && mergeable; p++) {
    mergeable = sameKeys(before.hostSets[p]?.hosts ?? [], after.hostSets[p]?.hosts ?? []);
  }
  const now = byKey(after);
  const removed: HostDescription[] = [];
  const turnedUnhealthy: HostDescription[] = [];
  for (const [key, h] of byKey(before)) {
    const next = now.get(key);
    if (!next) removed.push(h);
    else if (h.healthy && !next.healthy) turnedUnhealthy.push(next);
  }
  return { mergeable, removed, turnedUnhealthy };
}
