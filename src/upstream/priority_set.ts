/**
 * A cluster's membership: its hosts grouped by priority level (Envoy's PrioritySet of HostSets).
 * The state is plain data ({@linkcode PrioritySetSnapshot}) so the main thread can post it to
 * workers, which rebuild a PrioritySet from it and swap in later snapshots with
 * {@linkcode PrioritySet.replace}; load balancers listen for updates on either side.
 *
 * @module
 */
import { type HostDescription, sameHost } from "./host.ts";

/** Envoy's default overprovisioning factor, in percent (1.4). */
export const DEFAULT_OVERPROVISIONING_FACTOR = 140;

/** The hosts of one priority level. */
export interface HostSet {
  readonly priority: number;
  readonly hosts: readonly HostDescription[];
  /** `load_assignment.policy.overprovisioning_factor`, in percent. */
  readonly overprovisioningFactor: number;
  /** `load_assignment.policy.weighted_priority_health`: health counts host weights, not hosts. */
  readonly weightedPriorityHealth: boolean;
}

/** A whole membership as plain, structured-cloneable data. */
export interface PrioritySetSnapshot {
  /** One entry per priority level, index = priority; levels may be empty. */
  readonly hostSets: readonly HostSet[];
}

/** How a load assignment's policy shapes every level; Envoy's defaults when omitted. */
export interface HostSetPolicy {
  overprovisioningFactor?: number;
  weightedPriorityHealth?: boolean;
}

/** Called after the membership changed. */
export type MembershipCallback = (set: PrioritySet) => void;

/** Hosts per priority, with update notification. */
export class PrioritySet {
  #hostSets: HostSet[];
  /**
   * Copied on change, to its length (a Set's table is 120 bytes for one callback, and an array
   * grown by push keeps room for more, on every cluster).
   */
  #callbacks: readonly MembershipCallback[] = [];

  constructor(snapshot?: PrioritySetSnapshot) {
    this.#hostSets = snapshot ? snapshot.hostSets.slice() : [];
  }

  /** The levels, index = priority. */
  get hostSets(): readonly HostSet[] {
    return this.#hostSets;
  }

  /** Every host of every level, highest priority first. */
  allHosts(): HostDescription[] {
    return this.#hostSets.flatMap((s) => s.hosts);
  }

  /** The membership as plain data, for workers and `/clusters`. */
  snapshot(): PrioritySetSnapshot {
    return { hostSets: this.#hostSets };
  }

  /**
   * Replaces the hosts of one level (creating empty levels above it if needed) and notifies,
   * unless nothing changed. Returns whether it changed.
   */
  updateHosts(
    priority: number,
    hosts: readonly HostDescription[],
    policy: HostSetPolicy = {},
  ): boolean {
    const next: HostSet = {
      priority,
      hosts,
      overprovisioningFactor: policy.overprovisioningFactor ?? DEFAULT_OVERPROVISIONING_FACTOR,
      weightedPriorityHealth: policy.weightedPriorityHealth ?? false,
    };
    const prev = this.#hostSets[priority];
    if (prev && sameHostSet(prev, next)) return false;
    const sets = this.#hostSets.slice();
    for (let p = sets.length; p < priority; p++) sets[p] = emptyLevel(p, next);
    sets[priority] = next;
    // Copied to its length (slice): an array grown by assignment keeps room for more, and
    // every cluster holds its levels for as long as it serves.
    this.#hostSets = sets.slice();
    this.#notify();
    return true;
  }

  /** Swaps in a whole membership (a worker receiving a snapshot, an EDS update) and notifies. */
  replace(snapshot: PrioritySetSnapshot): void {
    this.#hostSets = snapshot.hostSets.slice();
    this.#notify();
  }

  /** Registers `cb` for every later change; returns the function that unregisters it. */
  onUpdate(cb: MembershipCallback): () => void {
    if (!this.#callbacks.includes(cb)) this.#callbacks = this.#callbacks.concat([cb]);
    return () => {
      this.#callbacks = this.#callbacks.filter((c) => c !== cb);
    };
  }

  #notify(): void {
    for (const cb of this.#callbacks) cb(this);
  }
}

function emptyLevel(priority: number, like: HostSet): HostSet {
  return { ...like, priority, hosts: [] };
}

function sameHostSet(a: HostSet, b: HostSet): boolean {
  return a.overprovisioningFactor === b.overprovisioningFactor &&
    a.weightedPriorityHealth === b.weightedPriorityHealth &&
    a.hosts.length === b.hosts.length && a.hosts.every((h, i) => sameHost(h, b.hosts[i]));
}
