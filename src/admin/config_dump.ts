/**
 * `/config_dump` with Envoy's query parameters: `resource=` (one repeated field of the dump,
 * each element packed with its own `@type`), `mask=` (a FieldMask, checked against the API
 * schema and applied through the `Any` of a resource), `name_regex=` (RE2, whole-name match)
 * and `include_eds` (the endpoints dump). Errors read as Envoy's.
 *
 * The server hands over the dump sections as proto JSON with `@type`, one per config tracker
 * key in Envoy's order; everything here works on that JSON, with the schema from the API
 * registry.
 *
 * @module
 */
import type { DescField, DescMessage, JsonObject, JsonValue } from "@bufbuild/protobuf";
import { apiRegistry, typeNameOfUrl } from "../config/api.ts";
import { compileRegex } from "../router/regex.ts";
import { type Handler, json, queryParam, text } from "./handler.ts";

/** The outcome of a dump request: the JSON to print, or an error status and message. */
export type DumpResult = { ok: JsonValue } | { status: 400 | 404; message: string };

const TYPE_PREFIX = "type.googleapis.com/";

function schemaOf(section: JsonObject): DescMessage | undefined {
  const t = section["@type"];
  return typeof t === "string" ? apiRegistry().getMessage(typeNameOfUrl(t)) : undefined;
}

function fieldByName(desc: DescMessage, name: string): DescField | undefined {
  return desc.fields.find((f) => f.name === name);
}

/**
 * Whether `path` names a field of `desc` (FieldMaskUtil::GetFieldDescriptors): every part but
 * the last must be a singular message field.
 */
function validPath(desc: DescMessage, path: string): boolean {
  let d: DescMessage | undefined = desc;
  const parts = path.split(".");
  for (let i = 0; i < parts.length; i++) {
    const f: DescField | undefined = d && fieldByName(d, parts[i]);
    if (!f) return false;
    if (i < parts.length - 1) {
      if (f.fieldKind !== "message") return false;
      d = f.message;
    }
  }
  return true;
}

/** Keeps only the fields `paths` name (FieldMaskUtil::TrimMessage on proto JSON). */
export function trimJson(v: JsonValue, paths: string[][]): JsonValue {
  if (!v || typeof v !== "object" || Array.isArray(v)) return v;
  const out: JsonObject = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === "@type") {
      out[k] = x;
      continue;
    }
    const sub = paths.filter((p) => p[0] === k);
    if (sub.length === 0) continue;
    out[k] = sub.some((p) => p.length === 1) ? x : trimJson(x, sub.map((p) => p.slice(1)));
  }
  return out;
}

/**
 * Envoy's `trimResourceMessage`: paths through the resource's single `Any` field apply to the
 * packed message; the rest to the resource. Returns undefined when a path is not valid.
 */
function trimResource(
  resource: JsonObject,
  desc: DescMessage,
  mask: string[],
): JsonObject | undefined {
  const outer: string[] = [];
  const inner: string[] = [];
  let anyField: string | undefined;
  for (const path of mask) {
    const [head, ...rest] = path.split(".");
    const f = fieldByName(desc, head);
    if (f?.fieldKind === "message" && f.message.typeName === "google.protobuf.Any") {
      anyField ??= head;
      outer.push(head);
      inner.push(rest.join("."));
    } else outer.push(path);
  }
  let out: JsonObject = { ...resource };
  if (anyField !== undefined && resource[anyField] && typeof resource[anyField] === "object") {
    const packed = resource[anyField] as JsonObject;
    const innerDesc = schemaOf(packed);
    if (!innerDesc || !inner.every((p) => validPath(innerDesc, p))) return undefined;
    out[anyField] = trimJson(packed, inner.map((p) => p.split(".")));
  }
  if (!outer.every((p) => validPath(desc, p))) return undefined;
  out = trimJson(out, outer.map((p) => p.split("."))) as JsonObject;
  return out;
}

/** A resource's name: `name`, `cluster_name`, or that of the message it wraps. */
export function resourceName(r: JsonValue): string | undefined {
  if (!r || typeof r !== "object" || Array.isArray(r)) return undefined;
  if (typeof r.name === "string") return r.name;
  if (typeof r.cluster_name === "string") return r.cluster_name;
  for (const v of Object.values(r)) {
    if (v && typeof v === "object" && !Array.isArray(v)) {
      const n = typeof v.name === "string" ? v.name : v.cluster_name;
      if (typeof n === "string") return n;
    }
  }
  return undefined;
}

/** Drops the resources of every repeated field whose name does not match. */
function filterByName(section: JsonObject, match: (name: string) => boolean): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(section)) {
    out[k] = Array.isArray(v) ? v.filter((r) => match(resourceName(r) ?? "")) : v;
  }
  return out;
}

/** Protobuf's `FieldMask::DebugString`, which Envoy puts in its error message. */
function maskDebugString(mask: string[]): string {
  return mask.map((p) => `paths: "${p}"\n`).join("");
}

/**
 * Applies the query to the dump sections.
 *
 * @param sections the config dump messages as proto JSON, each with its `@type`.
 */
export function configDump(sections: JsonObject[], q: URLSearchParams): DumpResult {
  const nameRegex = queryParam(q, "name_regex");
  let match: (name: string) => boolean = () => true;
  if (nameRegex !== undefined) {
    try {
      match = compileRegex(nameRegex, "name_regex").fullMatch;
    } catch (e) {
      return {
        status: 400,
        message: `INVALID_ARGUMENT: Error while parsing name_regex from ${nameRegex}: ${
          (e as Error).message
        }`,
      };
    }
  }
  const maskText = queryParam(q, "mask");
  const mask = maskText?.split(",").filter((p) => p !== "");
  const resource = queryParam(q, "resource");
  const filtered = sections.map((s) => filterByName(s, match));
  if (resource !== undefined) {
    for (const section of filtered) {
      const desc = schemaOf(section);
      const field = desc && fieldByName(desc, resource);
      if (!field) continue;
      if (field.fieldKind !== "list" || field.listKind !== "message") {
        return {
          status: 400,
          message:
            `${resource} is not a repeated field. Use ?mask=${resource} to get only this field`,
        };
      }
      const elemDesc = field.message;
      const configs: JsonValue[] = [];
      for (const r of (section[resource] ?? []) as JsonObject[]) {
        const trimmed = mask ? trimResource(r, elemDesc, mask) : r;
        if (!trimmed) {
          return {
            status: 400,
            message: `FieldMask ${maskDebugString(mask!)} could not be successfully used.`,
          };
        }
        configs.push({ "@type": `${TYPE_PREFIX}${elemDesc.typeName}`, ...trimmed });
      }
      return { ok: { configs } };
    }
    return { status: 404, message: `${resource} not found in config dump` };
  }
  const configs: JsonValue[] = [];
  for (const section of filtered) {
    if (!mask) {
      configs.push(section);
      continue;
    }
    // Masks do not index through repeated fields here; a section the mask does not fit is
    // left out, since each section is a different message.
    const desc = schemaOf(section);
    if (!desc || !mask.every((p) => validPath(desc, p))) continue;
    configs.push(trimJson(section, mask.map((p) => p.split("."))));
  }
  if (mask && configs.length === 0) {
    return {
      status: 400,
      message: `FieldMask ${maskText} could not be successfully applied to any configs.`,
    };
  }
  return { ok: { configs } };
}

/** The `/config_dump` endpoint. */
export function configDumpHandler(sections: (includeEds: boolean) => JsonObject[]): Handler {
  return {
    path: "/config_dump",
    help: "dump current Envoy configs (experimental)",
    post: false,
    params: [
      { id: "resource", help: "The resource to dump" },
      {
        id: "mask",
        help: "The mask to apply. When both resource and mask are specified, the mask is " +
          "applied to every element in the desired repeated field so that only a subset of " +
          "fields are returned. The mask is parsed as a ProtobufWkt::FieldMask",
      },
      {
        id: "name_regex",
        help: "Dump only the currently loaded configurations whose names match the specified " +
          "regex. Can be used with both resource and mask query parameters.",
      },
      {
        id: "include_eds",
        flag: true,
        help: "Dump currently loaded configuration including EDS. See the response definition " +
          "for more information",
      },
    ],
    run: (c, q) => {
      const r = configDump(sections(q.has("include_eds")), q);
      return "ok" in r ? json(c, r.ok) : text(c, r.message, r.status);
    },
  };
}
