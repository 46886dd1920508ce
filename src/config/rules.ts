/**
 * The constraints Envoy's API declares with protoc-gen-validate options
 * (`(validate.rules)`, `(validate.required)`), checked on proto JSON as the loader builds it.
 * Envoy runs the same constraints on every config it loads, so honouring them here rejects
 * what Envoy rejects: required fields, value ranges (ports up to 65535), minimum list sizes,
 * non-empty names, and the like.
 */
import {
  type DescField,
  type DescMessage,
  type DescOneof,
  getOption,
  hasOption,
  isFieldSet,
  type JsonObject,
  type JsonValue,
  type Message,
} from "@bufbuild/protobuf";
import type { GenExtension } from "@bufbuild/protobuf/codegenv2";
import { apiRegistry } from "./api.ts";

// Shapes of the PGV messages as protobuf-es decodes them; only what the checks read.
interface Num {
  const?: number | bigint;
  lt?: number | bigint;
  lte?: number | bigint;
  gt?: number | bigint;
  gte?: number | bigint;
  in: (number | bigint)[];
  notIn: (number | bigint)[];
}
interface Str {
  len?: bigint;
  minLen?: bigint;
  maxLen?: bigint;
  minBytes?: bigint;
  maxBytes?: bigint;
  prefix?: string;
  suffix?: string;
  contains?: string;
  notContains?: string;
  pattern?: string;
  in: string[];
  notIn: string[];
  ignoreEmpty?: boolean;
  wellKnown: { case?: string; value?: unknown };
}
interface Dur {
  seconds: bigint;
  nanos: number;
}
interface FieldRules {
  message?: { skip?: boolean; required?: boolean };
  type: { case?: string; value?: unknown };
}

/** A checker for one field: returns an error message or undefined. */
type Check = (value: JsonValue | undefined, present: boolean) => string | undefined;

interface MessageRules {
  fields: { field: DescField; check: Check }[];
  requiredOneofs: DescOneof[];
}

const compiled = new WeakMap<DescMessage, MessageRules | null>();
interface PgvExtensions {
  rules: GenExtension<Message, Message>;
  required: GenExtension<Message, boolean>;
  disabled: GenExtension<Message, boolean>;
}
let exts: PgvExtensions | undefined;

function extensions(): PgvExtensions {
  if (!exts) {
    const r = apiRegistry();
    const get = (name: string) => r.getExtension(name) as unknown;
    exts = {
      rules: get("validate.rules") as PgvExtensions["rules"],
      required: get("validate.required") as PgvExtensions["required"],
      disabled: get("validate.disabled") as PgvExtensions["disabled"],
    };
  }
  return exts;
}

/** Compiles (once per message type) the constraints declared on its fields and oneofs. */
function rulesOf(desc: DescMessage): MessageRules | null {
  const hit = compiled.get(desc);
  if (hit !== undefined) return hit;
  const e = extensions();
  let result: MessageRules | null = null;
  const disabled = hasOption(desc, e.disabled) && getOption(desc, e.disabled);
  if (!disabled) {
    const fields: MessageRules["fields"] = [];
    for (const f of desc.fields) {
      if (!hasOption(f, e.rules)) continue;
      const check = compileField(f, onlySet(getOption(f, e.rules)) as unknown as FieldRules);
      if (check) fields.push({ field: f, check });
    }
    const requiredOneofs = desc.oneofs.filter((o) =>
      hasOption(o, e.required) && getOption(o, e.required)
    );
    if (fields.length > 0 || requiredOneofs.length > 0) result = { fields, requiredOneofs };
  }
  compiled.set(desc, result);
  return result;
}

/**
 * Checks the constraints of `desc` on `out` (its proto JSON); `present` holds the fields the
 * config set. Calls `report` with a message and the field it concerns.
 */
export function checkRules(
  desc: DescMessage,
  out: JsonObject,
  present: Set<DescField>,
  report: (message: string, field?: string) => void,
): void {
  const rules = rulesOf(desc);
  if (!rules) return;
  for (const { field, check } of rules.fields) {
    const msg = check(out[field.name], present.has(field));
    if (msg) report(msg, field.name);
  }
  for (const o of rules.requiredOneofs) {
    if (!o.fields.some((f) => present.has(f))) {
      report(`one of ${o.fields.map((f) => JSON.stringify(f.name)).join(", ")} must be set`);
    }
  }
}

function num(v: number | bigint | undefined): number | undefined {
  return v === undefined ? undefined : Number(v);
}

function durSeconds(d: Dur | undefined): number | undefined {
  return d === undefined ? undefined : Number(d.seconds ?? 0n) + (d.nanos ?? 0) / 1e9;
}

/**
 * The rule message with unset fields removed: PGV rules are proto2, where an unset `max_len`
 * must not read as 0. Oneofs keep their `{case, value}` shape.
 */
function onlySet(msg: Message): Record<string, unknown> {
  const desc = apiRegistry().getMessage(msg.$typeName)!;
  const out: Record<string, unknown> = {};
  const clean = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(clean)
      : v && typeof v === "object" && "$typeName" in v
      ? onlySet(v as Message)
      : v;
  for (const f of desc.fields) {
    if (f.oneof) continue;
    out[f.localName] = isFieldSet(msg, f)
      ? clean((msg as unknown as Record<string, unknown>)[f.localName])
      : f.fieldKind === "list"
      ? []
      : undefined;
  }
  for (const o of desc.oneofs) {
    const v = (msg as unknown as Record<string, { case?: string; value?: unknown }>)[o.localName];
    out[o.localName] = v?.case ? { case: v.case, value: clean(v.value) } : { case: undefined };
  }
  return out;
}

/** Builds the check for one field, or undefined when its rules need no check here. */
function compileField(f: DescField, rules: FieldRules): Check | undefined {
  // A oneof member is only checked when the config chose it.
  const required = rules.message?.required === true && rules.message?.skip !== true && !f.oneof;
  const t = rules.type;
  // Plain proto3 scalars are checked at their default value too, as PGV does;
  // oneof members, optional scalars and messages (wrappers) only when set.
  const checkAbsent = f.fieldKind === "scalar" && !f.oneof && !f.proto.proto3Optional;
  let absentDefault: JsonValue | undefined = undefined;
  if (t.case === "repeated" || t.case === "map") {
    const r = t.value as {
      minItems?: bigint;
      maxItems?: bigint;
      minPairs?: bigint;
      maxPairs?: bigint;
      items?: FieldRules;
    };
    const min = num(r.minItems ?? r.minPairs);
    const max = num(r.maxItems ?? r.maxPairs);
    const item = r.items ? valueCheck(r.items) : undefined;
    return (v, present) => {
      if (present && v === undefined) return undefined;
      const n = Array.isArray(v)
        ? v.length
        : v && typeof v === "object"
        ? Object.keys(v).length
        : 0;
      if (min !== undefined && n < min) {
        return min === 1 ? "must not be empty" : `must have at least ${min} entries (has ${n})`;
      }
      if (max !== undefined && n > max) return `must have at most ${max} entries (has ${n})`;
      if (item && Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          const m = item(v[i]);
          if (m) return `entry ${i}: ${m}`;
        }
      }
      return undefined;
    };
  }
  const inner = valueCheck(rules);
  if (checkAbsent) absentDefault = f.scalar === 9 /* STRING */ ? "" : f.scalar === 8 ? false : 0;
  if (!required && !inner) return undefined;
  return (v, present) => {
    if (present && v === undefined) return undefined; // given, but already reported as invalid
    if (!present) {
      if (required) return "is required";
      if (!checkAbsent || !inner) return undefined;
      return inner(absentDefault!);
    }
    return inner ? inner(v!) : undefined;
  };
}

/** Checks for one value (scalar, string, duration, any) per the rule's type. */
function valueCheck(rules: FieldRules): ((v: JsonValue) => string | undefined) | undefined {
  const t = rules.type;
  switch (t.case) {
    case "float":
    case "double":
    case "int32":
    case "int64":
    case "uint32":
    case "uint64":
    case "sint32":
    case "sint64":
    case "fixed32":
    case "fixed64":
    case "sfixed32":
    case "sfixed64":
      return numberCheck(t.value as Num);
    case "string":
      return stringCheck(t.value as Str);
    case "duration": {
      const d = t.value as { gt?: Dur; gte?: Dur; lt?: Dur; lte?: Dur };
      const gt = durSeconds(d.gt), gte = durSeconds(d.gte);
      const lt = durSeconds(d.lt), lte = durSeconds(d.lte);
      if ([gt, gte, lt, lte].every((x) => x === undefined)) return undefined;
      return (v) => {
        if (typeof v !== "string") return undefined;
        const s = parseFloat(v);
        if (gt !== undefined && !(s > gt)) return `must be longer than ${gt}s (is ${v})`;
        if (gte !== undefined && !(s >= gte)) return `must be at least ${gte}s (is ${v})`;
        if (lt !== undefined && !(s < lt)) return `must be shorter than ${lt}s (is ${v})`;
        if (lte !== undefined && !(s <= lte)) return `must be at most ${lte}s (is ${v})`;
        return undefined;
      };
    }
    default:
      return undefined;
  }
}

function numberCheck(r: Num): ((v: JsonValue) => string | undefined) | undefined {
  const c = num(r.const), lt = num(r.lt), lte = num(r.lte), gt = num(r.gt), gte = num(r.gte);
  const ins = r.in.map(Number), notIns = r.notIn.map(Number);
  if ([c, lt, lte, gt, gte].every((x) => x === undefined) && !ins.length && !notIns.length) {
    return undefined;
  }
  return (raw) => {
    if (typeof raw === "object" && raw !== null) return undefined;
    const v = Number(raw);
    if (Number.isNaN(v)) return undefined;
    if (c !== undefined && v !== c) return `must be ${c} (is ${v})`;
    // PGV treats gt > lt as an exclusive range outside (lt, gt); Envoy uses only the usual form.
    if (gt !== undefined && !(v > gt)) return `must be greater than ${gt} (is ${v})`;
    if (gte !== undefined && !(v >= gte)) return `must be at least ${gte} (is ${v})`;
    if (lt !== undefined && !(v < lt)) return `must be less than ${lt} (is ${v})`;
    if (lte !== undefined && !(v <= lte)) return `must be at most ${lte} (is ${v})`;
    if (ins.length && !ins.includes(v)) return `must be one of ${ins.join(", ")} (is ${v})`;
    if (notIns.includes(v)) return `must not be ${v}`;
    return undefined;
  };
}

const HEADER_NAME_RE = /^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/;
// deno-lint-ignore no-control-regex
const HEADER_VALUE_RE = /^[^\u0000\u000A\u000D]*$/;

/** The code points of `s` (a lone surrogate counts as one), without splitting it. */
export function codePoints(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/** The UTF-8 length of `s` (a lone surrogate as U+FFFD, as TextEncoder), without encoding it. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

function stringCheck(r: Str): ((v: JsonValue) => string | undefined) | undefined {
  const minLen = num(r.minLen ?? r.len), maxLen = num(r.maxLen ?? r.len);
  const minBytes = num(r.minBytes), maxBytes = num(r.maxBytes);
  let pattern: RegExp | undefined;
  if (r.pattern) {
    try {
      pattern = new RegExp(r.pattern, "u");
    } catch { /* an RE2-only pattern: not checked */ }
  }
  const wk = r.wellKnown;
  let wellKnown: ((s: string) => string | undefined) | undefined;
  if (wk.case === "wellKnownRegex") {
    const strict = (r as { strict?: boolean }).strict !== false;
    if (wk.value === 1 && strict) {
      wellKnown = (s) => HEADER_NAME_RE.test(s) ? undefined : "must be a valid HTTP header name";
    } else if (wk.value === 2 && strict) {
      wellKnown = (s) => HEADER_VALUE_RE.test(s) ? undefined : "must be a valid HTTP header value";
    }
  }
  const any = [minLen, maxLen, minBytes, maxBytes, pattern, wellKnown, r.prefix, r.suffix]
    .some((x) => x !== undefined) ||
    r.in.length > 0 || r.notIn.length > 0 || !!r.contains ||
    !!r.notContains;
  if (!any) return undefined;
  return (v) => {
    if (typeof v !== "string") return undefined;
    if (r.ignoreEmpty && v === "") return undefined;
    const runes = minLen !== undefined || maxLen !== undefined ? codePoints(v) : 0;
    if (minLen !== undefined && runes < minLen) {
      return minLen === 1 ? "must not be empty" : `must be at least ${minLen} characters long`;
    }
    if (maxLen !== undefined && runes > maxLen) return `must be at most ${maxLen} characters long`;
    const bytes = minBytes !== undefined || maxBytes !== undefined ? utf8Length(v) : 0;
    if (minBytes !== undefined && bytes < minBytes) {
      return minBytes === 1 ? "must not be empty" : `must be at least ${minBytes} bytes long`;
    }
    if (maxBytes !== undefined && bytes > maxBytes) return `must be at most ${maxBytes} bytes long`;
    if (r.prefix && !v.startsWith(r.prefix)) return `must start with ${JSON.stringify(r.prefix)}`;
    if (r.suffix && !v.endsWith(r.suffix)) return `must end with ${JSON.stringify(r.suffix)}`;
    if (r.contains && !v.includes(r.contains)) return `must contain ${JSON.stringify(r.contains)}`;
    if (r.notContains && v.includes(r.notContains)) {
      return `must not contain ${JSON.stringify(r.notContains)}`;
    }
    if (r.in.length && !r.in.includes(v)) return `must be one of ${r.in.join(", ")}`;
    if (r.notIn.includes(v)) return `must not be ${JSON.stringify(v)}`;
    if (pattern && !pattern.test(v)) return `must match the pattern ${r.pattern}`;
    return wellKnown?.(v);
  };
}
