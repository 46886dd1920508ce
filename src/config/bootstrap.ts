/**
 * Loads the bootstrap as Envoy does: `-c` (YAML, JSON or binary proto by extension) with
 * `--config-yaml` merged over it, then resolves and checks every extension, every referenced
 * file and the cross-object rules Envoy enforces. Returns every issue found, not just the first.
 */
import {
  create,
  fromBinary,
  fromJson,
  type JsonObject,
  type JsonValue,
  mergeFromBinary,
  toBinary,
  toJsonString,
} from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import type { Bootstrap } from "../../proto/gen/envoy/config/bootstrap/v3/bootstrap_pb.ts";
import type { DiscoveryResponse } from "../../proto/gen/envoy/service/discovery/v3/discovery_pb.ts";
import { apiRegistry, messageSchema, typeNameOfUrl } from "./api.ts";
import { type ConfigIssue } from "./errors.ts";
import { type ExtensionRegistry, misplacedExtension } from "./extensions.ts";
import type { FieldSupport } from "./field_support.ts";
import {
  newWalkContext,
  NOT_EXTENSION_POINTS,
  ProtoJsonWalker,
  type WalkContext,
} from "./proto_json.ts";
import { checkRules } from "./rules.ts";
import { checkBootstrap } from "./semantic.ts";
import { type ConfigSource, MAX_CONFIG_BYTES, parseSource, position } from "./source.ts";
import { substituteEnv, type UnsetVariable } from "./env_substitution.ts";

/** xDS resource types: carried in Anys by DiscoveryResponses, but core config, not extensions. */
const XDS_RESOURCES = new Set([
  "envoy.config.listener.v3.Listener",
  "envoy.config.cluster.v3.Cluster",
  "envoy.config.endpoint.v3.ClusterLoadAssignment",
  "envoy.config.endpoint.v3.LbEndpoint",
  "envoy.config.route.v3.RouteConfiguration",
  "envoy.config.route.v3.ScopedRouteConfiguration",
  "envoy.config.route.v3.VirtualHost",
  "envoy.extensions.transport_sockets.tls.v3.Secret",
  "envoy.service.runtime.v3.Runtime",
  "envoy.config.core.v3.TypedExtensionConfig",
]);

/** Where the bootstrap comes from (Envoy's `-c` and `--config-yaml`). */
export interface BootstrapSource {
  configPath?: string;
  configYaml?: string;
  /** `--env-substitution`: environment variables in values (env_substitution.ts). */
  envSubstitution?: boolean;
}

/** The outcome of loading: the bootstrap when there were no issues, and every issue. */
export interface LoadResult {
  bootstrap?: Bootstrap;
  issues: ConfigIssue[];
}

const BOOTSTRAP = "envoy.config.bootstrap.v3.Bootstrap";
const DISCOVERY_RESPONSE = "envoy.service.discovery.v3.DiscoveryResponse";
const WRAPPER = "envoy.service.discovery.v3.Resource";
const RESOURCE_WRAPPER = `type.googleapis.com/${WRAPPER}`;

/** One parsed text plus what its walk found. */
interface Part {
  json?: JsonObject;
  ctx?: WalkContext;
  file: string;
}

function ioIssue(file: string, message: string): ConfigIssue {
  return { kind: "io", file, line: 0, col: 0, path: "", message };
}

/** `--env-substitution` over a parsed source; each variable left unset is an issue. */
function substituteSource(src: ConfigSource, issues: ConfigIssue[]): void {
  const unset: UnsetVariable[] = [];
  src.value = substituteEnv(src.value, (name) => Deno.env.get(name), unset);
  for (const u of unset) {
    issues.push({
      kind: "semantic",
      file: src.file,
      ...position(src, { path: u.path }),
      path: u.path,
      message: `environment variable '${u.name}' is not set (--env-substitution; ` +
        `\${${u.name}:-default} gives a default)`,
    });
  }
}

/** Reads the `-c` file as text (YAML/JSON) or, for `.pb`, converts the binary proto to JSON. */
function readConfigFile(path: string, issues: ConfigIssue[]): string | undefined {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? "no such file"
      : e instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : (e as Error).message;
    issues.push(ioIssue(path, `cannot read the config file: ${why}`));
    return undefined;
  }
  if (info.isDirectory) {
    issues.push(ioIssue(path, "cannot read the config file: it is a directory"));
    return undefined;
  }
  if (info.size > MAX_CONFIG_BYTES) {
    issues.push(ioIssue(
      path,
      `the config file is ${(info.size / 1048576).toFixed(1)} MiB; ` +
        `the limit is ${MAX_CONFIG_BYTES / 1048576} MiB`,
    ));
    return undefined;
  }
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch (e) {
    issues.push(ioIssue(path, `cannot read the config file: ${(e as Error).message}`));
    return undefined;
  }
  if (path.endsWith(".pb")) {
    try {
      const msg = fromBinary(messageSchema<Bootstrap>(BOOTSTRAP), bytes);
      return toJsonString(messageSchema<Bootstrap>(BOOTSTRAP), msg, { registry: apiRegistry() });
    } catch (e) {
      issues.push(ioIssue(path, `not a binary Bootstrap proto: ${(e as Error).message}`));
      return undefined;
    }
  }
  if (path.endsWith(".pb_text")) {
    issues.push(ioIssue(path, "text-format protos (.pb_text) are not supported; use YAML or JSON"));
    return undefined;
  }
  const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
  return text;
}

function walkText(
  text: string,
  file: string,
  issues: ConfigIssue[],
  fields: FieldSupport,
  opts: { typeName?: string; positions?: boolean; envSubstitution?: boolean } = {},
): Part {
  const src = parseSource(text, file, issues, { positions: opts.positions });
  if (!src) return { file };
  if (opts.envSubstitution) substituteSource(src, issues);
  const ctx = newWalkContext(src, issues, fields);
  const desc = apiRegistry().getMessage(opts.typeName ?? BOOTSTRAP)!;
  const json = new ProtoJsonWalker(ctx).message(src.value, desc, "");
  ctx.json = json;
  if (json !== undefined && (typeof json !== "object" || Array.isArray(json) || json === null)) {
    return { file, ctx };
  }
  return { file, ctx, json: (json ?? {}) as JsonObject };
}

/**
 * Loads and checks the bootstrap. `extensions` decides which typed configs are supported;
 * `checkFiles` (on by default) reports referenced files that do not exist.
 */
export function loadBootstrap(
  source: BootstrapSource,
  extensions: ExtensionRegistry,
  opts: { checkFiles?: boolean } = {},
): LoadResult {
  const issues: ConfigIssue[] = [];
  if (!source.configPath && !source.configYaml) {
    issues.push(ioIssue("", "no configuration: pass -c/--config-path <file> or --config-yaml"));
    return { issues };
  }
  const parts: Part[] = [];
  if (source.configPath) {
    const text = readConfigFile(source.configPath, issues);
    if (text !== undefined) {
      // A binary config has no lines to point at: issues name the file and the field path.
      parts.push(walkText(text, source.configPath, issues, extensions.fields, {
        positions: !source.configPath.endsWith(".pb"),
        envSubstitution: source.envSubstitution,
      }));
    }
  }
  if (source.configYaml) {
    parts.push(walkText(source.configYaml, "--config-yaml", issues, extensions.fields, {
      envSubstitution: source.envSubstitution,
    }));
  }

  for (const p of parts) if (p.ctx) checkExtensions(p.ctx, extensions, issues);
  if (opts.checkFiles !== false) {
    for (const p of parts) if (p.ctx) checkFiles(p.ctx, issues);
  }
  // Every stage runs even after another found problems, so one run reports them all: the
  // walk left out what was invalid, and the checks below see the rest.
  if (parts.some((p) => !p.json)) return { issues: sortIssues(issues) };

  const schema = messageSchema<Bootstrap>(BOOTSTRAP);
  let bootstrap: Bootstrap | undefined;
  const walked = issues.length;
  let decoded = true;
  for (const p of parts) {
    let msg: Bootstrap;
    try {
      msg = fromJson(schema, p.json!, { registry: apiRegistry() });
    } catch (e) {
      decoded = false;
      // What the walk reported already explains why (it keeps what it could not check).
      if (walked > 0) continue;
      issues.push({
        kind: "schema",
        file: p.file,
        line: 0,
        col: 0,
        path: "",
        message: (e as Error).message,
      });
      continue;
    }
    // --config-yaml is merged over the file with protobuf MergeFrom semantics, as Envoy does:
    // scalars replace, messages merge, repeated fields append.
    bootstrap = bootstrap ? mergeFromBinary(schema, bootstrap, toBinary(schema, msg)) : msg;
  }
  if (!bootstrap || !decoded) return { issues: sortIssues(issues) };
  const checks: ConfigIssue[] = [];
  checkBootstrap(bootstrap, parts.map((p) => p.ctx!), extensions, checks);
  issues.push(...withoutRepeats(checks, issues));
  if (issues.length > 0) return { issues: sortIssues(issues) };
  nameUnnamedListeners(bootstrap);
  return { bootstrap, issues };
}

/**
 * Envoy allocates a name to a listener configured without one; everything that follows a
 * listener (its bound port, drain, hot restart, reload) keys it by name. The name here is
 * `listener_<index>` rather than Envoy's random UUID, so a reloaded bootstrap keeps an
 * unchanged unnamed listener (and its connections) instead of replacing it.
 */
function nameUnnamedListeners(b: Bootstrap): void {
  const listeners = b.staticResources?.listeners ?? [];
  const taken = new Set(listeners.map((l) => l.name));
  listeners.forEach((l, i) => {
    if (l.name) return;
    let name = `listener_${i}`;
    while (taken.has(name)) name += "_";
    taken.add(name);
    l.name = name;
  });
}

/**
 * The later checks' issues, less those that repeat what the walk said: an issue at a place
 * already reported (an unsupported extension), inside a refused field (a statsd pipe address,
 * say), about a part holding a schema error (which the walk left out, so the check saw it
 * missing or incomplete), or about a file already reported missing.
 */
function withoutRepeats(checks: ConfigIssue[], found: ConfigIssue[]): ConfigIssue[] {
  const refused = found.filter((i) => i.field).map(subject);
  const invalid = found.filter((i) => i.kind === "schema" && i.path).map((i) => i.path);
  const missing = found.filter((i) => i.missingPath).map((i) => i.missingPath!);
  // A refused field's issue names the message holding it; its own path is in `refused`.
  const reported = new Set(found.filter((i) => !i.field).map((i) => i.path));
  return checks.filter((c) =>
    !reported.has(c.path) && !refused.some((r) => within(subject(c), r)) &&
    !invalid.some((p) => within(p, c.path)) && !missing.some((m) => c.message.includes(m))
  );
}

/** The field path an issue is about: a refused field's own path, else the issue's path. */
function subject(i: ConfigIssue): string {
  return i.field ? `${i.path ? `${i.path}.` : ""}${i.field.name}` : i.path;
}

/** Whether field path `path` is `outer` or inside it. */
function within(path: string, outer: string): boolean {
  return path === outer || (outer !== "" && path.startsWith(outer) &&
    (path[outer.length] === "." || path[outer.length] === "["));
}

/** The outcome of loading an xDS resource file. */
export interface ResourceFileResult {
  response?: DiscoveryResponse;
  issues: ConfigIssue[];
  /** The walk of the text, for the checks that place their issues in it. */
  ctx?: WalkContext;
}

/**
 * Loads a filesystem xDS resource file (a DiscoveryResponse in YAML or JSON, the format of
 * `path_config_source`), checking each resource and its extensions like the bootstrap.
 */
export function loadResourceFile(
  path: string,
  extensions: ExtensionRegistry,
  opts: { checkFiles?: boolean } = {},
): ResourceFileResult {
  const issues: ConfigIssue[] = [];
  const text = readConfigFile(path, issues);
  if (text === undefined) return { issues };
  return loadResourceText(text, path, extensions, opts);
}

/**
 * Reads a DiscoveryResponse from YAML or JSON text (a resource file, or a REST response body
 * with `file` naming where it came from), checking it like {@linkcode loadResourceFile}.
 */
export function loadResourceText(
  text: string,
  file: string,
  extensions: ExtensionRegistry,
  opts: { checkFiles?: boolean } = {},
): ResourceFileResult {
  const issues: ConfigIssue[] = [];
  const part = walkText(text, file, issues, extensions.fields, { typeName: DISCOVERY_RESPONSE });
  if (part.ctx) {
    checkExtensions(part.ctx, extensions, issues);
    if (opts.checkFiles !== false) checkFiles(part.ctx, issues);
  }
  if (issues.length > 0 || !part.json) return { issues: sortIssues(issues), ctx: part.ctx };
  try {
    return { response: discoveryResponseFromJson(part.json), issues, ctx: part.ctx };
  } catch (e) {
    issues.push(ioIssue(file, (e as Error).message));
    return { issues };
  }
}

/**
 * The DiscoveryResponse in `json`, each resource decoded straight from its JSON into its own
 * type and carried unpacked in its Any (as `preUnpack` leaves it): packing thousands of
 * resources to binary only to unpack them again doubled the cost of decoding an update.
 */
function discoveryResponseFromJson(json: JsonValue): DiscoveryResponse {
  const registry = apiRegistry();
  const { resources, ...rest } = json as JsonObject;
  const response = fromJson(messageSchema<DiscoveryResponse>(DISCOVERY_RESPONSE), rest, {
    registry,
  });
  if (!Array.isArray(resources)) return response;
  response.resources = resources.map((wrapper) => {
    // A resource wrapped in a `Resource` (for a TTL, which files and REST do not honour) is
    // read as the resource itself; one with no body stays wrapped, for the decoder to refuse.
    const w = wrapper as JsonObject;
    const inner = w["@type"] === RESOURCE_WRAPPER ? w.resource : undefined;
    const r = inner && typeof inner === "object" && !Array.isArray(inner) ? inner : wrapper;
    const { "@type": typeUrl, ...body } = r as JsonObject;
    // Well-known types have their own JSON inside an Any (`value`): left to the Any's reader.
    if (typeof typeUrl !== "string" || typeUrl.includes("/google.protobuf.")) {
      return fromJson(AnySchema, r, { registry });
    }
    const unpacked = fromJson(messageSchema(typeNameOfUrl(typeUrl)), body, { registry });
    return Object.assign(create(AnySchema, { typeUrl }), { unpacked });
  });
  return response;
}

/** Every typed config must belong to an implemented extension; name-only ones too. */
function checkExtensions(ctx: WalkContext, reg: ExtensionRegistry, issues: ConfigIssue[]) {
  const unsupported: string[] = [];
  const file = ctx.src.file;
  for (const use of ctx.anys) {
    const typeName = typeNameOfUrl(use.typeUrl);
    // Plain data (StringValue, Struct, ...) and xDS resources in an Any are not extensions.
    if (use.known && (typeName.startsWith("google.protobuf.") || XDS_RESOURCES.has(typeName))) {
      continue;
    }
    // The wrapper a DiscoveryResponse's resource may come in for its TTL (and only there).
    if (typeName === WRAPPER && /^resources\[\d+\]$/.test(use.path)) continue;
    if (use.owner && NOT_EXTENSION_POINTS.has(use.owner)) continue;
    const factory = reg.byType(typeName);
    if (factory) {
      const misplaced = misplacedExtension(factory, use.owner);
      if (misplaced) {
        issues.push({
          kind: "semantic",
          file,
          ...position(ctx.src, use.at),
          path: use.path,
          message: misplaced,
        });
      }
      continue;
    }
    // Nested configs of an unsupported extension would only repeat the same news.
    if (unsupported.some((p) => use.path.startsWith(p))) continue;
    unsupported.push(use.path);
    const name = use.name || typeName;
    issues.push({
      kind: "unsupported",
      file,
      ...position(ctx.src, use.at),
      path: use.path,
      message: `unsupported extension '${name}' (${use.typeUrl})` +
        (use.known ? "" : ": its config type is not part of the Envoy API denvoy knows"),
      extension: { name, typeUrl: use.typeUrl },
    });
  }
  for (const use of ctx.names) {
    const factory = reg.byName(use.name);
    if (factory) {
      const misplaced = misplacedExtension(factory, use.owner);
      const problems = misplaced ? [misplaced] : emptyConfigProblems(factory.configTypes[0]);
      for (const message of problems) {
        issues.push({
          kind: "semantic",
          file,
          ...position(ctx.src, use.at),
          path: use.path,
          message,
        });
      }
      continue;
    }
    if (unsupported.some((p) => use.path.startsWith(p))) continue;
    issues.push({
      kind: "unsupported",
      file,
      ...position(ctx.src, use.at),
      path: use.path,
      message: `unsupported extension '${use.name}' (no typed_config given)`,
      extension: { name: use.name, typeUrl: "" },
    });
  }
}

/**
 * An extension named without `typed_config` gets its empty config, as Envoy's factories'
 * `createEmptyConfigProto()`, and that config must pass the API's constraints like any other
 * (Envoy: "Proto constraint validation failed"): a CSRF filter needs its `filter_enabled`.
 */
function emptyConfigProblems(typeName: string | undefined): string[] {
  const desc = typeName ? apiRegistry().getMessage(typeName) : undefined;
  if (!desc) return [];
  const problems: string[] = [];
  checkRules(desc, {}, new Set(), (message, field) => {
    problems.push(
      `named without typed_config, its empty ${desc.name} fails: ${field ? `${field}: ` : ""}` +
        message,
    );
  });
  return problems;
}

/** Files the config reads (certificates, Lua/Wasm code, filesystem xDS) must exist. */
function checkFiles(ctx: WalkContext, issues: ConfigIssue[]) {
  for (const ref of ctx.files) {
    try {
      Deno.statSync(ref.filename);
    } catch {
      issues.push({
        kind: "missing_file",
        file: ctx.src.file,
        ...position(ctx.src, { path: ref.path }),
        path: ref.path,
        message: `referenced file ${JSON.stringify(ref.filename)} does not exist`,
        missingPath: ref.filename,
      });
    }
  }
}

/** Orders issues by position within each file, keeping files in the order they were read. */
function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  const fileOrder = new Map<string, number>();
  for (const i of issues) if (!fileOrder.has(i.file)) fileOrder.set(i.file, fileOrder.size);
  return issues.sort((a, b) =>
    fileOrder.get(a.file)! - fileOrder.get(b.file)! || a.line - b.line || a.col - b.col
  );
}
