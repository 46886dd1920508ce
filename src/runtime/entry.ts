/**
 * Parsing runtime values into typed entries, as Envoy's `SnapshotImpl::createEntry` does:
 * from text (disk files, `/runtime_modify`) and from the JSON values of a static layer or an
 * RTDS resource. Runs on the main thread only; workers get the parsed entries.
 *
 * @module
 */
// @ts-types="@types/js-yaml"
import jsyaml from "js-yaml";
import { DENOMINATORS, type FractionalPercent, type RuntimeEntry } from "./snapshot.ts";

const DENOMINATOR_NAMES = ["HUNDRED", "TEN_THOUSAND", "MILLION"];
const MAX_UINT32 = 0xffff_ffff;
/** What `absl::SimpleAtod` accepts (decimal and exponent forms, surrounding blanks). */
const DOUBLE = /^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$/;

/** Sets the number views of a value as Envoy's `setNumberValue` does. */
function setNumber(entry: RuntimeEntry, value: number): void {
  entry.double = value;
  // Integers double as booleans (0 is false), as in Envoy.
  if (Number.isInteger(value) && Math.abs(value) < 2 ** 31) entry.bool = value !== 0;
  if (value >= 0 && value <= Number.MAX_SAFE_INTEGER) entry.uint = Math.floor(value);
}

/**
 * Reads a `type.v3.FractionalPercent` out of a parsed object; undefined unless it is one
 * (only `numerator` and `denominator`, a uint32 numerator, a known denominator).
 */
export function toFractionalPercent(v: unknown): FractionalPercent | undefined {
  if (!v || typeof v !== "object" || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  if (Object.keys(o).some((k) => k !== "numerator" && k !== "denominator")) return undefined;
  const n = o.numerator ?? 0;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > MAX_UINT32) return undefined;
  const d = o.denominator ?? 0;
  const index = typeof d === "string" ? DENOMINATOR_NAMES.indexOf(d) : d;
  if (typeof index !== "number" || DENOMINATORS[index] === undefined) return undefined;
  return { numerator: n, denominator: DENOMINATORS[index] };
}

/** An entry from text: a boolean, a number, a fractional percent (YAML), or just text. */
export function entryFromString(raw: string): RuntimeEntry {
  const entry: RuntimeEntry = { raw };
  const trimmed = raw.trim();
  if (/^(true|false)$/i.test(trimmed)) {
    entry.bool = trimmed.toLowerCase() === "true";
    return entry;
  }
  if (DOUBLE.test(raw)) {
    setNumber(entry, Number(trimmed));
    return entry;
  }
  if (trimmed.includes(":")) {
    try {
      const fp = toFractionalPercent(jsyaml.load(raw, { schema: jsyaml.CORE_SCHEMA }));
      if (fp) entry.fractionalPercent = fp;
    } catch {
      // Not YAML: the value stays plain text, as in Envoy.
    }
  }
  return entry;
}

/** YAML flow text of a JSON value, as Envoy shows non-string static values. */
function flowText(v: unknown): string {
  if (v && typeof v === "object" && !Array.isArray(v)) {
    const fields = Object.entries(v).map(([k, x]) => `${k}: ${flowText(x)}`);
    return `{${fields.join(", ")}}`;
  }
  return String(v);
}

/**
 * An entry from a JSON value of a static layer (`google.protobuf.Value`). Strings parse like
 * text; numbers and booleans keep their type; an object is a fractional percent.
 */
export function entryFromJson(v: unknown): RuntimeEntry {
  if (typeof v === "string") return entryFromString(v);
  if (typeof v === "number") {
    const entry: RuntimeEntry = { raw: String(v) };
    setNumber(entry, v);
    return entry;
  }
  if (typeof v === "boolean") return { raw: String(v), bool: v };
  const entry: RuntimeEntry = { raw: flowText(v) };
  const fp = toFractionalPercent(v);
  if (fp) entry.fractionalPercent = fp;
  return entry;
}

/**
 * Flattens a static layer (`google.protobuf.Struct` as JSON) into dotted keys, as Envoy's
 * `ProtoLayer` does: nested objects are key prefixes, except an empty object or one with
 * `numerator`/`denominator`, which is a fractional percent value.
 *
 * @throws {Error} "Invalid runtime entry value for <key>" for lists and nulls, as Envoy.
 */
export function flattenStaticLayer(
  struct: Record<string, unknown>,
  out: Record<string, RuntimeEntry> = {},
  prefix = "",
): Record<string, RuntimeEntry> {
  for (const [k, v] of Object.entries(struct)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v === null || v === undefined || Array.isArray(v)) {
      throw new Error(`Invalid runtime entry value for ${key}`);
    }
    if (typeof v === "object") {
      const o = v as Record<string, unknown>;
      if (Object.keys(o).length === 0 || "numerator" in o || "denominator" in o) {
        out[key] = entryFromJson(o);
      } else flattenStaticLayer(o, out, key);
    } else out[key] = entryFromJson(v);
  }
  return out;
}
