/**
 * A runtime snapshot (Envoy's `Runtime::Snapshot`): the layers of the layered runtime at one
 * moment, merged so that later layers override earlier ones, with Envoy's typed lookups
 * (`getInteger`, `getDouble`, `getBoolean`, `featureEnabled`). Snapshots are immutable; the
 * main thread builds a new one on every change and posts its plain data to the workers, which
 * swap it in atomically (see `runtime.ts`).
 *
 * Entries are parsed once, when a layer is loaded (`entry.ts`), so lookups on the request path
 * are one map access.
 *
 * @module
 */

/** `type.v3.FractionalPercent` with the denominator as a number (100, 10000 or 1000000). */
export interface FractionalPercent {
  numerator: number;
  denominator: number;
}

/** One runtime value as every type it parses as (Envoy's `Snapshot::Entry`). */
export interface RuntimeEntry {
  /** The value as written (what `/runtime` shows). */
  raw: string;
  uint?: number;
  double?: number;
  bool?: boolean;
  fractionalPercent?: FractionalPercent;
}

/** One layer's name and entries: plain data, structured-cloneable. */
export interface RuntimeLayerData {
  name: string;
  entries: Record<string, RuntimeEntry>;
}

/** A whole snapshot as plain data, for posting to workers. */
export interface SnapshotData {
  layers: RuntimeLayerData[];
}

/** `FractionalPercent.DenominatorType` numbers, in enum order. */
export const DENOMINATORS = [100, 10_000, 1_000_000] as const;

/** The merged view of a runtime's layers. */
export class Snapshot {
  readonly layers: readonly RuntimeLayerData[];
  readonly #values = new Map<string, RuntimeEntry>();

  constructor(data: SnapshotData = { layers: [] }) {
    this.layers = data.layers;
    for (const layer of data.layers) {
      for (const [key, entry] of Object.entries(layer.entries)) this.#values.set(key, entry);
    }
  }

  /** Number of distinct keys over all layers (`runtime.num_keys`). */
  get size(): number {
    return this.#values.size;
  }

  /** The plain data of this snapshot. */
  data(): SnapshotData {
    return { layers: this.layers as RuntimeLayerData[] };
  }

  /** The raw value of `key`, or undefined. */
  get(key: string): string | undefined {
    return key === "" ? undefined : this.#values.get(key)?.raw;
  }

  /** `key` as an unsigned integer, or `defaultValue` when unset or not a number. */
  getInteger(key: string, defaultValue: number): number {
    const e = key === "" ? undefined : this.#values.get(key);
    return e?.uint ?? defaultValue;
  }

  /** `key` as a double, or `defaultValue`. */
  getDouble(key: string, defaultValue: number): number {
    const e = key === "" ? undefined : this.#values.get(key);
    return e?.double ?? defaultValue;
  }

  /** `key` as a boolean ("true"/"false", or an integer: non-zero is true), or `defaultValue`. */
  getBoolean(key: string, defaultValue: boolean): boolean {
    const e = key === "" ? undefined : this.#values.get(key);
    return e?.bool ?? defaultValue;
  }

  /**
   * Envoy's `featureEnabled(key, FractionalPercent default, random)`: the percentage is the
   * key's fractional percent, or its integer as a percentage (over 100 always passes), or the
   * default; the feature is on when `random % denominator < numerator`.
   */
  featureEnabled(key: string, defaultValue: FractionalPercent, random: number): boolean {
    const e = key === "" ? undefined : this.#values.get(key);
    let p = defaultValue;
    if (e?.fractionalPercent) p = e.fractionalPercent;
    else if (e?.uint !== undefined) {
      if (e.uint > 100) return true;
      p = { numerator: e.uint, denominator: 100 };
    }
    return evaluateFractionalPercent(p, random);
  }

  /**
   * Envoy's `featureEnabled(key, uint default)`: the key's integer (or the default) read as a
   * percentage, capped at 100, against `random`.
   */
  featureEnabledPercent(key: string, defaultPercent: number, random: number): boolean {
    const cutoff = Math.min(this.getInteger(key, defaultPercent), 100);
    return random % 100 < cutoff;
  }
}

/** True with probability numerator/denominator for a uniformly random `random`. */
export function evaluateFractionalPercent(p: FractionalPercent, random: number): boolean {
  // A numerator above the denominator is 100%.
  return random % p.denominator < p.numerator;
}
