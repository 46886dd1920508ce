/**
 * Turns parsed YAML/JSON values into canonical protobuf JSON for one message type, checking
 * them against the schema on the way. Every problem becomes a ConfigIssue with the position of
 * the offending key or value and its field path; the walk goes on after an error so one run
 * reports them all.
 *
 * It also matches the leniencies of Envoy's own loader: enum names in any case, proto or JSON
 * field names, numbers given as strings and scalars given where strings are expected, a single
 * value where a list is expected, and `TypedStruct` wrappers around typed configs.
 */
import { type DescEnum, type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { messageOfUrl } from "./api.ts";
import { closest, type ConfigIssue } from "./errors.ts";
import { type FieldSupport, isLeafType } from "./field_support.ts";
import { checkRules } from "./rules.ts";
import { type Anchor, type ConfigSource, position } from "./source.ts";

/**
 * `name` + `typed_config` fields that are not extension points: an overload action is named by
 * a well-known action name and configured (reduce_timeouts) with a plain message.
 */
export const NOT_EXTENSION_POINTS: ReadonlySet<string> = new Set([
  "envoy.config.overload.v3.OverloadAction.typed_config",
]);

/** A `google.protobuf.Any` met during the walk: an extension config, usually. */
export interface AnyUse {
  typeUrl: string;
  /** The extension's name as the config gives it (sibling `name`, or the map key). */
  name: string;
  /** Field path of the Any itself. */
  path: string;
  /** Where its type URL is written. */
  at: Anchor;
  /** Whether the API knows the type (unknown types are unsupported by construction). */
  known: boolean;
  /** The field holding it, as `message type.field` (where it plugs in), when known. */
  owner?: string;
}

/** An extension named without a typed config (Envoy then uses its default config). */
export interface NameUse {
  name: string;
  path: string;
  at: Anchor;
  /** The field its config would be in, as `message type.typed_config`. */
  owner: string;
}

/** A file the config refers to (DataSource.filename, filesystem config sources). */
export interface FileRef {
  filename: string;
  path: string;
}

/** Walk state shared by one config text. */
export interface WalkContext {
  src: ConfigSource;
  issues: ConfigIssue[];
  anys: AnyUse[];
  names: NameUse[];
  files: FileRef[];
  /** Nodes the walk may still visit; aliases can make a small text expand without bound. */
  budget: number;
  /** The walk's result, kept for checks that run after it. */
  json?: JsonValue;
  /** Implemented fields: any other field that is set is refused. Unset: no field check. */
  fields?: FieldSupport;
}

/**
 * Node visits allowed beyond the text's own size. A text of n bytes holds fewer than n nodes,
 * so a walk that visits many more is expanding aliases (the "billion laughs" attack).
 */
export const ALIAS_SLACK = 200_000;

/** Starts a walk over `src`; with `fields`, set fields that are not implemented are refused. */
export function newWalkContext(
  src: ConfigSource,
  issues: ConfigIssue[],
  fields?: FieldSupport,
): WalkContext {
  return {
    src,
    issues,
    anys: [],
    names: [],
    files: [],
    budget: 2 * src.text.length + ALIAS_SLACK,
    fields,
  };
}

/**
 * Whether a walked field value counts as set: a message or oneof member that is present, a
 * non-empty list or map, a scalar or enum other than its default (proto3 cannot tell an
 * explicit default from an absent field, and neither can Envoy).
 */
export function isSetValue(field: DescField, v: JsonValue | undefined): boolean {
  if (v === undefined || v === null) return false;
  switch (field.fieldKind) {
    case "list":
      return (v as JsonValue[]).length > 0;
    case "map":
      return Object.keys(v as JsonObject).length > 0;
    case "message":
      return true;
  }
  if (field.oneof || field.presence === 1) return true;
  if (field.fieldKind === "enum") return v !== field.enum.values.find((e) => e.number === 0)?.name;
  return v !== 0 && v !== "" && v !== false && v !== "0";
}

const WRAPPERS = new Set([
  "google.protobuf.DoubleValue",
  "google.protobuf.FloatValue",
  "google.protobuf.Int64Value",
  "google.protobuf.UInt64Value",
  "google.protobuf.Int32Value",
  "google.protobuf.UInt32Value",
  "google.protobuf.BoolValue",
  "google.protobuf.StringValue",
  "google.protobuf.BytesValue",
]);

/** Message types whose proto JSON is not an object of fields. */
const SPECIAL_JSON = new Set([
  ...WRAPPERS,
  "google.protobuf.Duration",
  "google.protobuf.Timestamp",
  "google.protobuf.FieldMask",
  "google.protobuf.Struct",
  "google.protobuf.Value",
  "google.protobuf.ListValue",
]);

const BOOTSTRAP = "envoy.config.bootstrap.v3.Bootstrap";
const HCM = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const TYPED_STRUCT = new Set(["xds.type.v3.TypedStruct", "udpa.type.v1.TypedStruct"]);
const DURATION_RE = /^-?\d+(\.\d{1,9})?s$/;

const fieldIndex = new WeakMap<DescMessage, Map<string, DescField>>();

/** Fields by proto name and JSON name. */
function fieldsOf(desc: DescMessage): Map<string, DescField> {
  let m = fieldIndex.get(desc);
  if (!m) {
    m = new Map();
    for (const f of desc.fields) {
      m.set(f.name, f);
      m.set(f.jsonName, f);
    }
    fieldIndex.set(desc, m);
  }
  return m;
}

/** `supportOf`: the field is not implemented (its subtree is refused, not walked for more). */
const REFUSED = 1;
/** `supportOf`: the field is left to a specific check (its subtree is not field-checked). */
const CHECKED = 2;
const supportCache = new WeakMap<
  FieldSupport,
  { generation: number; byField: WeakMap<DescField, number> }
>();

/**
 * How `support` treats `field` of `desc` (REFUSED, CHECKED or 0), decided once per field: the
 * walk asks for every field of every resource of an update.
 */
function supportOf(support: FieldSupport, desc: DescMessage, field: DescField): number {
  let cache = supportCache.get(support);
  if (cache?.generation !== support.generation) {
    cache = { generation: support.generation, byField: new WeakMap() };
    supportCache.set(support, cache);
  }
  const byField = cache.byField;
  let how = byField.get(field);
  if (how === undefined) {
    const refused = !support.supports(desc.typeName, field.name) && !isLeafType(desc.typeName);
    how = refused ? REFUSED : support.isChecked(desc.typeName, field.name) ? CHECKED : 0;
    byField.set(field, how);
  }
  return how;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function isNull(v: unknown): boolean {
  return v === null || v === undefined;
}

function describe(v: unknown): string {
  if (isNull(v)) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "an object";
  return typeof v === "string" ? `the string ${JSON.stringify(v)}` : `${typeof v} ${String(v)}`;
}

function join(path: string, name: string): string {
  return path ? `${path}.${name}` : name;
}

/** A walker bound to one context. */
export class ProtoJsonWalker {
  #exhausted = false;
  /** Depth of subtrees exempt from the field check (refused, or left to a specific check). */
  #quiet = 0;

  constructor(readonly ctx: WalkContext) {}

  private issue(at: Anchor, path: string, message: string) {
    const p = position(this.ctx.src, at);
    this.ctx.issues.push({ kind: "schema", file: this.ctx.src.file, ...p, path, message });
  }

  /** Reports a set field that denvoy does not implement, listed like an unsupported extension. */
  private refuse(desc: DescMessage, field: DescField, path: string, key: string) {
    const p = position(this.ctx.src, { path, key });
    this.ctx.issues.push({
      kind: "unsupported",
      file: this.ctx.src.file,
      ...p,
      path,
      message: `field '${field.name}' is not supported yet`,
      field: { typeName: desc.typeName, name: field.name },
    });
  }

  /** Charges one node visit; false once the budget is spent (reported once). */
  private spend(path: string): boolean {
    if (--this.ctx.budget >= 0) return true;
    if (!this.#exhausted) {
      this.#exhausted = true;
      const limit = 2 * this.ctx.src.text.length + ALIAS_SLACK;
      this.issue(
        { path },
        "",
        `YAML aliases expand to more than ${limit} nodes; ` +
          `refusing to expand further (is this an alias bomb?)`,
      );
    }
    return false;
  }

  /** Walks `value` as message `desc`; returns its proto JSON, or undefined if unset/invalid. */
  message(value: unknown, desc: DescMessage, path: string): JsonValue | undefined {
    if (isNull(value) || !this.spend(path)) return undefined;
    const tn = desc.typeName;
    if (tn === "google.protobuf.Any") return this.any(value, path);
    if (SPECIAL_JSON.has(tn)) return this.special(value, desc, path);
    if (!isObj(value)) {
      this.issue({ path }, path, `expected an object (${desc.name}), got ${describe(value)}`);
      return undefined;
    }
    return this.fields(value, desc, path, undefined);
  }

  /** Walks the entries of an object as the fields of `desc`, skipping the key `skip`. */
  private fields(obj: Obj, desc: DescMessage, path: string, skip: string | undefined): JsonObject {
    const out: JsonObject = {};
    const index = fieldsOf(desc);
    let oneofSet: Map<string, string> | undefined;
    const present = new Set<DescField>();
    // Fields offered as "did you mean": their absence is the same mistake, reported once.
    let suggested: Set<string> | undefined;
    let typedConfigAny = -1;
    let entries = Object.entries(obj);
    if (desc.typeName === HCM) entries = this.legacyScheme(entries, out, path);
    for (const [key, value] of entries) {
      if (key === skip) continue;
      const field = index.get(key);
      if (!field) {
        const hint = closest(key, desc.fields.map((f) => f.name));
        if (hint) (suggested ??= new Set()).add(hint);
        const resourceFile = key === "resources" && desc.typeName === BOOTSTRAP;
        this.issue(
          { path, key },
          path,
          `unknown field ${JSON.stringify(key)} in ${desc.name}` +
            (hint ? ` (did you mean ${JSON.stringify(hint)}?)` : "") +
            (resourceFile ? " (this looks like an xDS resource file, not a bootstrap)" : ""),
        );
        continue;
      }
      const fpath = join(path, field.name);
      if (field.oneof) {
        oneofSet ??= new Map();
        const other = oneofSet.get(field.oneof.name);
        if (other !== undefined && other !== field.name) {
          this.issue(
            { path, key },
            path,
            `only one of ${field.oneof.fields.map((f) => JSON.stringify(f.name)).join(", ")} ` +
              `may be set (both ${JSON.stringify(other)} and ${JSON.stringify(field.name)} are)`,
          );
          continue;
        }
        oneofSet.set(field.oneof.name, field.name);
      }
      if (field.name === "typed_config" && field.message?.typeName === "google.protobuf.Any") {
        typedConfigAny = this.ctx.anys.length;
      }
      const support = this.#quiet === 0 ? this.ctx.fields : undefined;
      const how = support === undefined ? 0 : supportOf(support, desc, field);
      const refused = (how & REFUSED) !== 0;
      const quiet = how !== 0;
      if (quiet) this.#quiet++;
      const v = this.field(value, field, fpath);
      if (quiet) this.#quiet--;
      if (refused && isSetValue(field, v)) this.refuse(desc, field, path, key);
      if (v !== undefined) out[field.name] = v;
      // A field given with a bad value counts as present, so its absence is not reported too.
      if (v !== undefined || !isNull(value)) present.add(field);
    }
    if (typedConfigAny >= 0 && typeof out.name === "string") {
      const use = this.ctx.anys[typedConfigAny];
      if (use && use.path === `${path}.typed_config`) use.name = out.name;
    } else if (
      typeof out.name === "string" && out.typed_config === undefined &&
      out.config_discovery === undefined &&
      index.get("typed_config")?.message?.typeName === "google.protobuf.Any" &&
      !NOT_EXTENSION_POINTS.has(`${desc.typeName}.typed_config`)
    ) {
      this.ctx.names.push({
        name: out.name,
        path,
        at: { path: join(path, "name") },
        owner: `${desc.typeName}.typed_config`,
      });
    }
    this.noteFileRefs(desc, out, path);
    checkRules(desc, out, present, (message, fieldName) => {
      if (fieldName && suggested?.has(fieldName) && !present.has(index.get(fieldName)!)) return;
      const fp = fieldName ? join(path, fieldName) : path;
      const at = fieldName && out[fieldName] !== undefined ? { path: fp } : { path };
      this.issue(at, fp, message);
    });
    return out;
  }

  /**
   * `scheme_header_transformation: OVERWRITE_SCHEME` with `scheme: https` is the shape of a
   * draft of Envoy's API that never shipped, yet Envoy's own `configs/envoyproxy_io_proxy.yaml`
   * still uses it. It is accepted as the released `{scheme_to_overwrite: https}`.
   */
  private legacyScheme(entries: [string, unknown][], out: JsonObject, path: string) {
    const sht = entries.find(([k]) => k === "scheme_header_transformation");
    if (!sht || sht[1] !== "OVERWRITE_SCHEME") return entries;
    const scheme = entries.find(([k]) => k === "scheme");
    const value = scheme?.[1];
    if (value !== "http" && value !== "https") {
      this.issue(
        { path: join(path, scheme ? "scheme" : "scheme_header_transformation") },
        join(path, "scheme"),
        "legacy scheme_header_transformation: OVERWRITE_SCHEME needs scheme: http or https",
      );
    } else out.scheme_header_transformation = { scheme_to_overwrite: value };
    return entries.filter((e) => e !== sht && e !== scheme);
  }

  /** Records files the config depends on, so loading can check they exist. */
  private noteFileRefs(desc: DescMessage, out: JsonObject, path: string) {
    const tn = desc.typeName;
    let key: string | undefined;
    if (tn === "envoy.config.core.v3.DataSource" && typeof out.filename === "string") {
      key = "filename";
    } else if (
      (tn === "envoy.config.core.v3.ConfigSource" ||
        tn === "envoy.config.core.v3.PathConfigSource") && typeof out.path === "string"
    ) key = "path";
    if (key) this.ctx.files.push({ filename: out[key] as string, path: join(path, key) });
  }

  /** Walks one field's value according to its kind. */
  field(value: unknown, field: DescField, path: string): JsonValue | undefined {
    switch (field.fieldKind) {
      case "scalar":
        return isNull(value) ? undefined : this.scalar(value, field.scalar, path);
      case "enum":
        return isNull(value) ? undefined : this.enumValue(value, field.enum, path);
      case "message": {
        const before = this.ctx.anys.length;
        const v = this.message(value, field.message, path);
        const use = this.ctx.anys[before];
        if (use && use.path === path) use.owner = `${field.parent.typeName}.${field.name}`;
        return v;
      }
      case "list": {
        if (isNull(value)) return undefined;
        // Like protobuf's JSON parser that Envoy uses, a single value stands for a list of one.
        const items = Array.isArray(value) ? value : [value];
        const out: JsonValue[] = [];
        for (let i = 0; i < items.length; i++) {
          const ip = `${path}[${i}]`;
          const item = items[i];
          let v: JsonValue | undefined;
          if (field.listKind === "message") v = this.message(item, field.message, ip);
          else if (isNull(item) || !this.spend(ip)) v = undefined;
          else if (field.listKind === "enum") v = this.enumValue(item, field.enum, ip);
          else v = this.scalar(item, field.scalar, ip);
          if (v !== undefined) out.push(v);
        }
        return out;
      }
      case "map": {
        if (isNull(value)) return undefined;
        if (!isObj(value)) {
          this.issue({ path }, path, `expected an object (map), got ${describe(value)}`);
          return undefined;
        }
        const out: JsonObject = {};
        for (const [key, item] of Object.entries(value)) {
          const kp = `${path}[${JSON.stringify(key)}]`;
          const before = this.ctx.anys.length;
          let v: JsonValue | undefined;
          if (field.mapKind === "message") v = this.message(item, field.message, kp);
          else if (isNull(item) || !this.spend(kp)) v = undefined;
          else if (field.mapKind === "enum") v = this.enumValue(item, field.enum, kp);
          else v = this.scalar(item, field.scalar, kp);
          const use = this.ctx.anys[before];
          if (use && use.path === kp) {
            use.name = key;
            use.owner = `${field.parent.typeName}.${field.name}`;
          }
          if (v !== undefined) out[key] = v;
        }
        return out;
      }
    }
  }

  /** A scalar value as proto JSON, accepting the forms Envoy's loader accepts. */
  scalar(v: unknown, t: ScalarType, path: string): JsonValue | undefined {
    const bad = (why = `expected ${scalarName(t)}, got ${describe(v)}`) => {
      this.issue({ path }, path, why);
      return undefined;
    };
    if (typeof v === "object") return bad();
    switch (t) {
      case ScalarType.STRING:
        return typeof v === "string" ? v : String(v);
      case ScalarType.BYTES:
        if (typeof v === "string" && /^[A-Za-z0-9+/_-]*={0,2}$/.test(v.replace(/\s/g, ""))) {
          return v;
        }
        return bad();
      case ScalarType.BOOL:
        if (typeof v === "boolean") return v;
        if (v === "true" || v === "false") return v === "true";
        return bad();
      case ScalarType.DOUBLE:
      case ScalarType.FLOAT: {
        if (typeof v === "number") return v;
        if (v === "NaN" || v === "Infinity" || v === "-Infinity") return v;
        const n = typeof v === "string" && v.trim() !== "" ? Number(v) : NaN;
        return Number.isNaN(n) ? bad() : n;
      }
      default: {
        const r = integer(v, t);
        if (typeof r === "string" && r.startsWith("!")) return bad(r.slice(1));
        return r === undefined ? bad() : r;
      }
    }
  }

  /** An enum value by name (any case) or number. */
  enumValue(v: unknown, e: DescEnum, path: string): JsonValue | undefined {
    if (e.typeName === "google.protobuf.NullValue") return null;
    if (typeof v === "number" && Number.isInteger(v)) {
      if (e.values.some((x) => x.number === v)) return e.values.find((x) => x.number === v)!.name;
      this.issue({ path }, path, `${v} is not a value of enum ${e.name}`);
      return undefined;
    }
    if (typeof v === "string") {
      const up = v.toUpperCase();
      const ev = e.values.find((x) => x.name === v) ?? e.values.find((x) => x.name === up);
      if (ev) return ev.name;
      const names = e.values.map((x) => x.name);
      const hint = closest(up, names);
      this.issue(
        { path },
        path,
        `unknown value ${JSON.stringify(v)} for enum ${e.name}` +
          (hint ? ` (did you mean ${hint}?)` : "") +
          `; expected one of ${names.slice(0, 12).join(", ")}${names.length > 12 ? ", ..." : ""}`,
      );
      return undefined;
    }
    this.issue({ path }, path, `expected a value of enum ${e.name}, got ${describe(v)}`);
    return undefined;
  }

  /** Well-known types with their own JSON form. */
  private special(v: unknown, desc: DescMessage, path: string): JsonValue | undefined {
    const tn = desc.typeName;
    if (WRAPPERS.has(tn)) {
      // A wrapper written as `{value: x}` is what the binary form looks like; Envoy accepts it.
      if (isObj(v) && Object.keys(v).length === 1 && "value" in v) {
        return isNull(v.value) ? undefined : this.scalar(v.value, desc.fields[0].scalar!, path);
      }
      return this.scalar(v, desc.fields[0].scalar!, path);
    }
    switch (tn) {
      case "google.protobuf.Duration":
        if (typeof v === "string" && DURATION_RE.test(v.trim())) return v.trim();
        if (isObj(v)) return this.fields(v, desc, path, undefined);
        this.issue(
          { path },
          path,
          `expected a duration such as "5s", "0.25s" or "1.000000001s", got ${describe(v)}`,
        );
        return undefined;
      case "google.protobuf.Timestamp":
      case "google.protobuf.FieldMask":
        if (typeof v === "string") return v;
        this.issue({ path }, path, `expected a string, got ${describe(v)}`);
        return undefined;
      case "google.protobuf.Struct":
        if (!isObj(v)) {
          this.issue({ path }, path, `expected an object, got ${describe(v)}`);
          return undefined;
        }
        return this.plain(v, path);
      case "google.protobuf.ListValue":
        if (!Array.isArray(v)) {
          this.issue({ path }, path, `expected a list, got ${describe(v)}`);
          return undefined;
        }
        return this.plain(v, path);
      default:
        return this.plain(v, path);
    }
  }

  /** Free-form JSON (Struct/Value), copied within the node budget (aliases may share parts). */
  private plain(v: unknown, path: string): JsonValue {
    if (!this.spend(path)) return null;
    if (Array.isArray(v)) return v.map((x, i) => this.plain(x, `${path}[${i}]`));
    if (isObj(v)) {
      const out: JsonObject = {};
      for (const [k, x] of Object.entries(v)) out[k] = this.plain(x, `${path}.${k}`);
      return out;
    }
    if (v === undefined) return null;
    if (typeof v === "string" || typeof v === "number" || typeof v === "boolean" || v === null) {
      return v;
    }
    return String(v);
  }

  /** An Any: resolves `@type`, unwraps TypedStruct, walks the payload as its type. */
  private any(v: unknown, path: string): JsonValue | undefined {
    if (!isObj(v)) {
      this.issue({ path }, path, `expected an object with "@type", got ${describe(v)}`);
      return undefined;
    }
    const t = v["@type"];
    if (typeof t !== "string" || !t.includes("/")) {
      this.issue(
        "@type" in v ? { path, key: "@type" } : { path },
        path,
        "@type" in v
          ? `"@type" must be a type URL such as "type.googleapis.com/envoy.x.v3.Y"`
          : `missing "@type": a typed config needs a type URL`,
      );
      return undefined;
    }
    let typeUrl = t;
    let desc = messageOfUrl(typeUrl);
    let body: Obj = v;
    let skip: string | undefined = "@type";
    let at: Anchor = { path: join(path, "@type") };
    if (desc && TYPED_STRUCT.has(desc.typeName)) {
      // TypedStruct carries the real type's URL and its fields as a Struct.
      if (typeof v.type_url !== "string") {
        this.issue({ path }, path, `TypedStruct needs "type_url"`);
        return undefined;
      }
      typeUrl = v.type_url;
      at = { path: join(path, "type_url") };
      desc = messageOfUrl(typeUrl);
      body = isObj(v.value) ? v.value : {};
      skip = undefined;
    }
    this.ctx.anys.push({ typeUrl, name: "", path, at, known: desc !== undefined });
    if (!desc) return undefined;
    if (desc.typeName === "google.protobuf.Any" || TYPED_STRUCT.has(desc.typeName)) {
      this.issue(at, path, `${desc.typeName} cannot be nested here`);
      return undefined;
    }
    if (SPECIAL_JSON.has(desc.typeName)) {
      const inner = this.message(body.value, desc, `${path}.value`);
      return inner === undefined ? { "@type": typeUrl } : { "@type": typeUrl, value: inner };
    }
    // An extension denvoy lacks is refused as a whole; its fields would only repeat that.
    const quiet = this.ctx.fields !== undefined && !this.ctx.fields.fields(desc.typeName);
    if (quiet) this.#quiet++;
    const out = { "@type": typeUrl, ...this.fields(body, desc, path, skip) };
    if (quiet) this.#quiet--;
    return out;
  }
}

function scalarName(t: ScalarType): string {
  switch (t) {
    case ScalarType.STRING:
      return "a string";
    case ScalarType.BOOL:
      return "true or false";
    case ScalarType.BYTES:
      return "base64-encoded bytes";
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return "a number";
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return "an integer from 0 to 4294967295";
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return "a non-negative integer";
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return "a 32-bit integer";
    default:
      return "an integer";
  }
}

/** Parses an integer of type `t`; a string starting with "!" is an error message. */
function integer(v: unknown, t: ScalarType): JsonValue | undefined {
  let text: string;
  if (typeof v === "number") {
    if (!Number.isInteger(v)) return undefined;
    text = Number.isSafeInteger(v) ? String(v) : BigInt(v).toString();
  } else if (typeof v === "string" && /^\s*-?\d+\s*$/.test(v)) text = v.trim();
  else return undefined;
  const n = BigInt(text);
  const is64 = t === ScalarType.INT64 || t === ScalarType.UINT64 || t === ScalarType.SINT64 ||
    t === ScalarType.FIXED64 || t === ScalarType.SFIXED64;
  const unsigned = t === ScalarType.UINT32 || t === ScalarType.FIXED32 || t === ScalarType.UINT64 ||
    t === ScalarType.FIXED64;
  if (unsigned && n < 0n) return `!expected ${scalarName(t)}, got negative ${text}`;
  const bits = is64 ? 64n : 32n;
  const max = unsigned ? (1n << bits) - 1n : (1n << (bits - 1n)) - 1n;
  const min = unsigned ? 0n : -(1n << (bits - 1n));
  if (n > max || n < min) return `!${text} is out of range for ${scalarName(t)}`;
  return is64 ? text : Number(n);
}
