/**
 * Finding the deprecated fields a config uses, as Envoy does when it loads a config: each use
 * is logged as a warning and counted in `runtime.deprecated_feature_use`.
 *
 * The walk reads the generated messages' properties through a plan compiled once per message
 * type (which fields are deprecated, which hold messages), because the generic reflection API
 * took ~350 ms on a bootstrap with 10,000 routes, which start-up cannot afford.
 *
 * @module
 */
import type { DescField, DescMessage, Message } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { apiRegistry } from "../config/api.ts";
import { unpackAny } from "../config/any.ts";

type Getter = (m: Record<string, unknown>) => unknown;

interface Plan {
  /** Deprecated fields: full name and value getter. */
  deprecated: { name: string; get: Getter }[];
  /** Fields that hold messages (singular, lists or maps). */
  children: { get: Getter; kind: "message" | "list" | "map" }[];
}

const plans = new Map<string, Plan>();

/** Reads a field, through its oneof when it has one. */
function getter(f: DescField): Getter {
  const name = f.localName;
  if (f.oneof) {
    const oneof = f.oneof.localName;
    return (m) => {
      const o = m[oneof] as { case?: string; value?: unknown } | undefined;
      return o?.case === name ? o.value : undefined;
    };
  }
  return (m) => m[name];
}

function planOf(desc: DescMessage): Plan {
  let plan = plans.get(desc.typeName);
  if (plan) return plan;
  plan = { deprecated: [], children: [] };
  for (const f of desc.fields) {
    const get = getter(f);
    if (f.deprecated) plan.deprecated.push({ name: `${desc.typeName}.${f.name}`, get });
    if (f.fieldKind === "message") plan.children.push({ get, kind: "message" });
    else if (f.fieldKind === "list" && f.listKind === "message") {
      plan.children.push({ get, kind: "list" });
    } else if (f.fieldKind === "map" && f.mapKind === "message") {
      plan.children.push({ get, kind: "map" });
    }
  }
  plans.set(desc.typeName, plan);
  return plan;
}

/** Whether a field value differs from "not set" (proto3 defaults count as not set). */
function isSet(v: unknown): boolean {
  if (v === undefined || v === null || v === 0 || v === "" || v === false || v === 0n) {
    return false;
  }
  if (Array.isArray(v) || v instanceof Uint8Array) return v.length > 0;
  if (typeof v === "object" && !("$typeName" in v)) return Object.keys(v).length > 0;
  return true;
}

/**
 * The full names (`envoy.config.bootstrap.v3.Admin.access_log_path`) of the deprecated fields
 * set in `message`, including inside `Any`s.
 */
export function deprecatedFieldUses(schema: DescMessage, message: Message): string[] {
  const out: string[] = [];
  walk(schema, message, out);
  return out;
}

function walkMessage(m: Message, out: string[]): void {
  // Struct fields hold plain JSON and wrapper fields plain values, not messages.
  if (typeof m !== "object" || typeof m.$typeName !== "string") return;
  if (m.$typeName === "google.protobuf.Any") {
    const inner = unpackAny(m as Any);
    if (inner) walkMessage(inner, out);
    return;
  }
  let desc = descs.get(m.$typeName);
  if (desc === undefined) {
    desc = apiRegistry().getMessage(m.$typeName) ?? null;
    descs.set(m.$typeName, desc);
  }
  if (desc) walk(desc, m, out);
}

const descs = new Map<string, DescMessage | null>();

function walk(desc: DescMessage, m: Message, out: string[]): void {
  const plan = planOf(desc);
  const o = m as unknown as Record<string, unknown>;
  for (const d of plan.deprecated) if (isSet(d.get(o))) out.push(d.name);
  for (const c of plan.children) {
    const v = c.get(o);
    if (v === undefined || v === null) continue;
    if (c.kind === "message") walkMessage(v as Message, out);
    else if (c.kind === "list") { for (const x of v as Message[]) walkMessage(x, out); }
    else for (const x of Object.values(v as Record<string, Message>)) walkMessage(x, out);
  }
}
