/**
 * Turns a positioned YAML/JSON tree into canonical protobuf JSON for one message type,
 * checking it against the schema on the way. Every problem becomes a ConfigIssue with the
 * position of the offending key or value and its field path; the walk goes on after an
 * error so one run reports them all.
 *
 * It also matches the leniencies of Envoy's own loader: enum names in any case, proto or
 * JSON field names, numbers given as strings and scalars given where strings are expected,
 * and `TypedStruct` wrappers around typed configs.
 */
import { type DescEnum, type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { isAlias, isMap, isScalar, isSeq, type Node, type Pair } from "yaml";
import { messageOfUrl } from "./api.ts";
import { closest, type ConfigIssue } from "./errors.ts";
import { checkRules } from "./rules.ts";
import { type ConfigSource, position } from "./source.ts";

/** A `google.protobuf.Any` met during the walk: an extension config, usually. */
export interface AnyUse {
  typeUrl: string;
  /** The extension's name as the config gives it (sibling `name`, or the map key). */
  name: string;
  /** Field path of the Any itself. */
  path: string;
  line: number;
  col: number;
  /** Whether the API knows the type (unknown types are unsupported by construction). */
  known: boolean;
}

/** An extension named without a typed config (Envoy then uses its default config). */
export interface NameUse {
  name: string;
  path: string;
  line: number;
  col: number;
}

/** A file the config refers to (DataSource.filename, filesystem config sources). */
export interface FileRef {
  filename: string;
  path: string;
  line: number;
  col: number;
}

/** Walk state shared by one config text. */
export interface WalkContext {
  src: ConfigSource;
  issues: ConfigIssue[];
  anys: AnyUse[];
  names: NameUse[];
  files: FileRef[];
  /** Nodes that may still be visited through aliases; guards against alias bombs. */
  aliasBudget: number;
  aliasExhausted: boolean;
  /** The walk's result, kept for checks that run after it. */
  json?: JsonValue;
}

/** Node visits allowed through YAML aliases before the walk gives up (billion laughs guard). */
export const ALIAS_VISIT_LIMIT = 200_000;

/** Starts a walk over `src`. */
export function newWalkContext(src: ConfigSource, issues: ConfigIssue[]): WalkContext {
  return {
    src,
    issues,
    anys: [],
    names: [],
    files: [],
    aliasBudget: ALIAS_VISIT_LIMIT,
    aliasExhausted: false,
  };
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

function shortName(desc: DescMessage | DescEnum): string {
  return desc.name;
}

function issue(ctx: WalkContext, node: Node | null | undefined, path: string, message: string) {
  const off = node?.range?.[0] ?? 0;
  const p = position(ctx.src, off);
  ctx.issues.push({ kind: "schema", file: ctx.src.file, line: p.line, col: p.col, path, message });
}

/** Follows aliases, charging the alias budget. */
function deref(ctx: WalkContext, node: unknown, via: boolean): Node | null {
  if (isAlias(node)) {
    const target = node.resolve(ctx.src.doc);
    return (target as Node) ?? null;
  }
  if (via && --ctx.aliasBudget < 0) return null;
  return (node as Node) ?? null;
}

function describe(node: Node | null): string {
  if (node === null || (isScalar(node) && node.value === null)) return "null";
  if (isMap(node)) return "an object";
  if (isSeq(node)) return "a list";
  if (isScalar(node)) {
    const v = node.value;
    return typeof v === "string" ? `the string ${JSON.stringify(v)}` : `${typeof v} ${String(v)}`;
  }
  return "an unknown node";
}

function isNull(node: Node | null): boolean {
  return node === null || (isScalar(node) && node.value === null);
}

/** A walker bound to one context; `via` tracks whether we are inside an alias expansion. */
export class ProtoJsonWalker {
  constructor(readonly ctx: WalkContext) {}

  private node(raw: unknown, via: boolean): { node: Node | null; via: boolean } {
    const aliased = via || isAlias(raw);
    if (isAlias(raw) && this.ctx.aliasBudget <= 0) {
      this.exhausted(raw as Node);
      return { node: null, via: aliased };
    }
    const node = deref(this.ctx, raw, aliased);
    if (aliased && this.ctx.aliasBudget < 0) {
      this.exhausted(raw as Node);
      return { node: null, via: aliased };
    }
    return { node, via: aliased };
  }

  private exhausted(node: Node) {
    if (this.ctx.aliasExhausted) return;
    this.ctx.aliasExhausted = true;
    issue(
      this.ctx,
      node,
      "",
      `YAML aliases expand to more than ${ALIAS_VISIT_LIMIT} nodes; ` +
        `refusing to expand further (is this an alias bomb?)`,
    );
  }

  /** Walks `raw` as message `desc`; returns its proto JSON, or undefined if unset/invalid. */
  message(raw: unknown, desc: DescMessage, path: string, via = false): JsonValue | undefined {
    const { node, via: v } = this.node(raw, via);
    if (isNull(node)) return undefined;
    const tn = desc.typeName;
    if (tn === "google.protobuf.Any") return this.any(node!, path, v);
    if (SPECIAL_JSON.has(tn)) return this.special(node!, desc, path, v);
    if (!isMap(node)) {
      issue(this.ctx, node, path, `expected an object (${shortName(desc)}), got ${describe(node)}`);
      return undefined;
    }
    return this.fields(node.items as Pair[], desc, path, v, undefined, node);
  }

  /** Walks the pairs of a map node as the fields of `desc`, skipping `skip`. */
  private fields(
    pairs: Pair[],
    desc: DescMessage,
    path: string,
    via: boolean,
    skip: string | undefined,
    at?: Node,
  ): JsonObject {
    const out: JsonObject = {};
    const index = fieldsOf(desc);
    const oneofSet = new Map<string, string>();
    const present = new Set<DescField>();
    const pairOf = new Map<string, Pair>();
    // Fields offered as "did you mean": their absence is the same mistake, reported once.
    const suggested = new Set<string>();
    let typedConfigAny = -1;
    if (desc.typeName === HCM) pairs = this.legacyScheme(pairs, out, pairOf, path);
    for (const pair of pairs) {
      const keyNode = pair.key as Node;
      const key = isScalar(keyNode) ? String(keyNode.value) : "";
      if (key === skip) continue;
      const field = index.get(key);
      if (!field) {
        const hint = closest(key, desc.fields.map((f) => f.name));
        const resourceFile = key === "resources" && desc.typeName === BOOTSTRAP;
        if (hint) suggested.add(hint);
        issue(
          this.ctx,
          keyNode,
          path,
          `unknown field ${JSON.stringify(key)} in ${shortName(desc)}` +
            (hint ? ` (did you mean ${JSON.stringify(hint)}?)` : "") +
            (resourceFile ? " (this looks like an xDS resource file, not a bootstrap)" : ""),
        );
        continue;
      }
      const fpath = path ? `${path}.${field.name}` : field.name;
      pairOf.set(field.name, pair);
      if (field.oneof) {
        const other = oneofSet.get(field.oneof.name);
        if (other !== undefined && other !== field.name) {
          issue(
            this.ctx,
            keyNode,
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
      const value = this.field(pair.value, field, fpath, via);
      if (value !== undefined) out[field.name] = value;
      // A field given with a bad value counts as present, so its absence is not reported too.
      if (value !== undefined || !isNull(this.node(pair.value, via).node)) present.add(field);
    }
    if (typedConfigAny >= 0 && typeof out.name === "string") {
      const use = this.ctx.anys[typedConfigAny];
      if (use && use.path === `${path}.typed_config`) use.name = out.name;
    } else if (
      typeof out.name === "string" && out.typed_config === undefined &&
      out.config_discovery === undefined && index.get("typed_config")?.message?.typeName ===
        "google.protobuf.Any"
    ) {
      const namePair = pairOf.get("name");
      this.ctx.names.push({
        name: out.name,
        path,
        ...this.pos((namePair?.value as Node) ?? null),
      });
    }
    this.noteFileRefs(desc, out, pairs, path);
    checkRules(desc, out, present, (message, fieldName) => {
      if (fieldName && suggested.has(fieldName) && !present.has(index.get(fieldName)!)) return;
      const pair = fieldName ? pairOf.get(fieldName) : undefined;
      const where = (pair?.value ?? pair?.key ?? at) as Node | undefined;
      this.ctx.issues.push({
        kind: "schema",
        file: this.ctx.src.file,
        ...this.pos(where ?? null),
        path: fieldName ? (path ? `${path}.${fieldName}` : fieldName) : path,
        message,
      });
    });
    return out;
  }

  /**
   * `scheme_header_transformation: OVERWRITE_SCHEME` with `scheme: https` is the shape of a
   * draft of Envoy's API that never shipped, yet Envoy's own `configs/envoyproxy_io_proxy.yaml`
   * still uses it. It is accepted as the released `{scheme_to_overwrite: https}`.
   */
  private legacyScheme(
    pairs: Pair[],
    out: JsonObject,
    pairOf: Map<string, Pair>,
    path: string,
  ): Pair[] {
    const key = (p: Pair) => String((p.key as { value?: unknown })?.value);
    const sht = pairs.find((p) => key(p) === "scheme_header_transformation");
    const scheme = pairs.find((p) => key(p) === "scheme");
    if (!sht || !isScalar(sht.value) || sht.value.value !== "OVERWRITE_SCHEME") return pairs;
    const value = scheme && isScalar(scheme.value) ? String(scheme.value.value) : "";
    if (value !== "http" && value !== "https") {
      issue(
        this.ctx,
        (scheme?.value ?? sht.value) as Node,
        `${path}.scheme`,
        `legacy scheme_header_transformation: OVERWRITE_SCHEME needs scheme: http or https`,
      );
    } else out.scheme_header_transformation = { scheme_to_overwrite: value };
    pairOf.set("scheme_header_transformation", sht);
    return pairs.filter((p) => p !== sht && p !== scheme);
  }

  private pos(node: Node | null): { line: number; col: number } {
    return position(this.ctx.src, node?.range?.[0] ?? 0);
  }

  /** Records files the config depends on, so loading can check they exist. */
  private noteFileRefs(desc: DescMessage, out: JsonObject, pairs: Pair[], path: string) {
    const tn = desc.typeName;
    let key: string | undefined;
    if (tn === "envoy.config.core.v3.DataSource" && typeof out.filename === "string") {
      key = "filename";
    } else if (
      (tn === "envoy.config.core.v3.ConfigSource" ||
        tn === "envoy.config.core.v3.PathConfigSource") && typeof out.path === "string"
    ) key = "path";
    if (!key) return;
    const pair = pairs.find((p) => String((p.key as { value?: unknown })?.value) === key);
    this.ctx.files.push({
      filename: out[key] as string,
      path: `${path}.${key}`,
      ...this.pos((pair?.value as Node) ?? null),
    });
  }

  /** Walks one field's value according to its kind. */
  field(raw: unknown, field: DescField, path: string, via: boolean): JsonValue | undefined {
    switch (field.fieldKind) {
      case "scalar":
        return this.scalarOrNull(raw, field.scalar, path, via);
      case "enum":
        return this.enumOrNull(raw, field.enum, path, via);
      case "message":
        return this.message(raw, field.message, path, via);
      case "list": {
        const { node, via: v } = this.node(raw, via);
        if (isNull(node)) return undefined;
        // Like protobuf's JSON parser that Envoy uses, a single value stands for a list of one.
        const items = isSeq(node) ? node.items : [node];
        const out: JsonValue[] = [];
        items.forEach((item, i) => {
          const ip = `${path}[${i}]`;
          let value: JsonValue | undefined;
          if (field.listKind === "message") value = this.message(item, field.message, ip, v);
          else if (field.listKind === "enum") value = this.enumOrNull(item, field.enum, ip, v);
          else value = this.scalarOrNull(item, field.scalar, ip, v);
          if (value !== undefined) out.push(value);
        });
        return out;
      }
      case "map": {
        const { node, via: v } = this.node(raw, via);
        if (isNull(node)) return undefined;
        if (!isMap(node)) {
          issue(this.ctx, node, path, `expected an object (map), got ${describe(node)}`);
          return undefined;
        }
        const out: JsonObject = {};
        for (const pair of node.items as Pair[]) {
          const k = this.node(pair.key, v).node;
          const key = isScalar(k) ? String(k.value) : "";
          const kp = `${path}[${JSON.stringify(key)}]`;
          const before = this.ctx.anys.length;
          let value: JsonValue | undefined;
          if (field.mapKind === "message") value = this.message(pair.value, field.message, kp, v);
          else if (field.mapKind === "enum") value = this.enumOrNull(pair.value, field.enum, kp, v);
          else value = this.scalarOrNull(pair.value, field.scalar, kp, v);
          const use = this.ctx.anys[before];
          if (use && use.path === kp) use.name = key;
          if (value !== undefined) out[key] = value;
        }
        return out;
      }
    }
  }

  private scalarOrNull(raw: unknown, t: ScalarType, path: string, via: boolean) {
    const { node } = this.node(raw, via);
    if (isNull(node)) return undefined;
    return this.scalar(node!, t, path);
  }

  private enumOrNull(raw: unknown, e: DescEnum, path: string, via: boolean) {
    const { node } = this.node(raw, via);
    if (isNull(node)) return undefined;
    return this.enumValue(node!, e, path);
  }

  /** A scalar value as proto JSON, accepting the forms Envoy's loader accepts. */
  scalar(node: Node, t: ScalarType, path: string): JsonValue | undefined {
    if (!isScalar(node)) {
      issue(this.ctx, node, path, `expected ${scalarName(t)}, got ${describe(node)}`);
      return undefined;
    }
    const v = node.value;
    const src = typeof node.source === "string" ? node.source : String(v);
    switch (t) {
      case ScalarType.STRING:
        if (typeof v === "string") return v;
        if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return src;
        break;
      case ScalarType.BYTES:
        if (typeof v === "string") {
          if (/^[A-Za-z0-9+/_-]*={0,2}$/.test(v.replace(/\s/g, ""))) return v;
          issue(this.ctx, node, path, `expected base64-encoded bytes, got ${describe(node)}`);
          return undefined;
        }
        break;
      case ScalarType.BOOL:
        if (typeof v === "boolean") return v;
        if (v === "true" || v === "false") return v === "true";
        break;
      case ScalarType.DOUBLE:
      case ScalarType.FLOAT: {
        const n = typeof v === "number" ? v : typeof v === "string" ? Number(v) : NaN;
        if (typeof v === "string" && (v === "NaN" || v === "Infinity" || v === "-Infinity")) {
          return v;
        }
        if (!Number.isNaN(n) && (typeof v === "number" || String(v).trim() !== "")) return n;
        break;
      }
      default: {
        const r = integer(v, src, t);
        if (typeof r === "string" && r.startsWith("!")) {
          issue(this.ctx, node, path, r.slice(1));
          return undefined;
        }
        if (r !== undefined) return r;
      }
    }
    issue(this.ctx, node, path, `expected ${scalarName(t)}, got ${describe(node)}`);
    return undefined;
  }

  /** An enum value by name (any case) or number. */
  enumValue(node: Node, e: DescEnum, path: string): JsonValue | undefined {
    if (e.typeName === "google.protobuf.NullValue") return null;
    if (isScalar(node)) {
      const v = node.value;
      if (typeof v === "number" && Number.isInteger(v)) {
        const ev = e.values.find((x) => x.number === v);
        if (ev) return ev.name;
        issue(this.ctx, node, path, `${v} is not a value of enum ${e.name}`);
        return undefined;
      }
      if (typeof v === "string") {
        const up = v.toUpperCase();
        const ev = e.values.find((x) => x.name === v) ?? e.values.find((x) => x.name === up);
        if (ev) return ev.name;
        const names = e.values.map((x) => x.name);
        const hint = closest(up, names);
        issue(
          this.ctx,
          node,
          path,
          `unknown value ${JSON.stringify(v)} for enum ${e.name}` +
            (hint ? ` (did you mean ${hint}?)` : "") +
            `; expected one of ${names.slice(0, 12).join(", ")}${names.length > 12 ? ", ..." : ""}`,
        );
        return undefined;
      }
    }
    issue(this.ctx, node, path, `expected a value of enum ${e.name}, got ${describe(node)}`);
    return undefined;
  }

  /** Well-known types with their own JSON form. */
  private special(
    node: Node,
    desc: DescMessage,
    path: string,
    via: boolean,
  ): JsonValue | undefined {
    const tn = desc.typeName;
    if (WRAPPERS.has(tn)) {
      const inner = desc.fields[0];
      if (isMap(node)) {
        // A wrapper written as `{value: x}` is what the binary form looks like; Envoy accepts it.
        const pair = (node.items as Pair[]).find((p) =>
          (p.key as { value?: unknown }).value === "value"
        );
        if (pair && node.items.length === 1) {
          return this.scalarOrNull(pair.value, inner.scalar!, `${path}.value`, via);
        }
      }
      return this.scalar(node, inner.scalar!, path);
    }
    switch (tn) {
      case "google.protobuf.Duration":
        if (
          isScalar(node) && typeof node.value === "string" && DURATION_RE.test(node.value.trim())
        ) {
          return node.value.trim();
        }
        if (isMap(node)) return this.fields(node.items as Pair[], desc, path, via, undefined, node);
        issue(
          this.ctx,
          node,
          path,
          `expected a duration such as "5s", "0.25s" or "1.000000001s", got ${describe(node)}`,
        );
        return undefined;
      case "google.protobuf.Timestamp":
      case "google.protobuf.FieldMask":
        if (isScalar(node) && typeof node.value === "string") return node.value;
        issue(this.ctx, node, path, `expected a string, got ${describe(node)}`);
        return undefined;
      case "google.protobuf.Struct":
        if (!isMap(node)) {
          issue(this.ctx, node, path, `expected an object, got ${describe(node)}`);
          return undefined;
        }
        return this.plain(node, path, via);
      case "google.protobuf.ListValue":
        if (!isSeq(node)) {
          issue(this.ctx, node, path, `expected a list, got ${describe(node)}`);
          return undefined;
        }
        return this.plain(node, path, via);
      default:
        return this.plain(node, path, via);
    }
  }

  /** Free-form JSON (Struct/Value), aliases expanded within the budget. */
  private plain(node: Node | null, path: string, via: boolean): JsonValue {
    if (node === null) return null;
    if (isMap(node)) {
      const out: JsonObject = {};
      for (const p of node.items as Pair[]) {
        const k = this.node(p.key, via).node;
        const key = isScalar(k) ? String(k.value) : "";
        const { node: vn, via: v } = this.node(p.value, via);
        out[key] = this.plain(vn, `${path}.${key}`, v);
      }
      return out;
    }
    if (isSeq(node)) {
      return node.items.map((it, i) => {
        const { node: vn, via: v } = this.node(it, via);
        return this.plain(vn, `${path}[${i}]`, v);
      });
    }
    if (isScalar(node)) {
      const v = node.value;
      if (typeof v === "bigint") return Number(v);
      if (v === null || typeof v === "string" || typeof v === "number" || typeof v === "boolean") {
        return v;
      }
      return String(v);
    }
    return null;
  }

  /** An Any: resolves `@type`, unwraps TypedStruct, walks the payload as its type. */
  private any(node: Node, path: string, via: boolean): JsonValue | undefined {
    if (!isMap(node)) {
      issue(this.ctx, node, path, `expected an object with "@type", got ${describe(node)}`);
      return undefined;
    }
    const pairs = node.items as Pair[];
    const typePair = pairs.find((p) => (p.key as { value?: unknown })?.value === "@type");
    const tv = typePair ? this.node(typePair.value, via).node : null;
    if (!typePair || !isScalar(tv) || typeof tv.value !== "string" || !tv.value.includes("/")) {
      issue(
        this.ctx,
        typePair ? tv : node,
        path,
        typePair
          ? `"@type" must be a type URL such as "type.googleapis.com/envoy.x.v3.Y"`
          : `missing "@type": a typed config needs a type URL`,
      );
      return undefined;
    }
    let typeUrl = tv.value;
    let desc = messageOfUrl(typeUrl);
    let body: Pair[] = pairs;
    let skip: string | undefined = "@type";
    let at: Node = tv;
    if (desc && TYPED_STRUCT.has(desc.typeName)) {
      // TypedStruct carries the real type's URL and its fields as a Struct.
      const inner = pairs.find((p) => (p.key as { value?: unknown })?.value === "type_url");
      const iv = inner ? this.node(inner.value, via).node : null;
      const value = pairs.find((p) => (p.key as { value?: unknown })?.value === "value");
      if (!isScalar(iv) || typeof iv.value !== "string") {
        issue(this.ctx, node, path, `TypedStruct needs "type_url"`);
        return undefined;
      }
      typeUrl = iv.value;
      at = iv;
      desc = messageOfUrl(typeUrl);
      const vn = value ? this.node(value.value, via).node : null;
      body = isMap(vn) ? (vn.items as Pair[]) : [];
      skip = undefined;
    }
    const p = this.pos(at);
    this.ctx.anys.push({ typeUrl, name: "", path, ...p, known: desc !== undefined });
    if (!desc) return undefined;
    if (desc.typeName === "google.protobuf.Any" || TYPED_STRUCT.has(desc.typeName)) {
      issue(this.ctx, at, path, `${desc.typeName} cannot be nested here`);
      return undefined;
    }
    if (SPECIAL_JSON.has(desc.typeName)) {
      const vp = body.find((x) => (x.key as { value?: unknown })?.value === "value");
      const inner = vp ? this.message(vp.value, desc, `${path}.value`, via) : undefined;
      return inner === undefined ? { "@type": typeUrl } : { "@type": typeUrl, value: inner };
    }
    return { "@type": typeUrl, ...this.fields(body, desc, path, via, skip, node) };
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
function integer(v: unknown, src: string, t: ScalarType): JsonValue | undefined {
  let text: string;
  if (typeof v === "number") {
    if (!Number.isInteger(v)) return undefined;
    text = Number.isSafeInteger(v) ? String(v) : src.trim();
  } else if (typeof v === "bigint") text = String(v);
  else if (typeof v === "string" && /^\s*-?\d+\s*$/.test(v)) text = v.trim();
  else return undefined;
  if (!/^-?\d+$/.test(text)) return undefined;
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
