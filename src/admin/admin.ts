/**
 * The admin API (Hono app on `admin.address`): Envoy's endpoints that need no stats wiring,
 * in Envoy's formats. Paths match exactly (a trailing slash is a 404, as in Envoy), mutating
 * endpoints answer 405 unless POSTed, and unknown paths get Envoy's 404 with the command list.
 * Stats endpoints (`/stats*`, `/reset_counters`) arrive with the stats store.
 */
import type { Context } from "hono";
import { Hono } from "hono";
import {
  compileStatsFilter,
  type HistogramBucketsMode,
  renderJson,
  renderText,
} from "../stats/format.ts";
import { renderPrometheus } from "../stats/prometheus.ts";
import type { StoreSnapshot } from "../stats/snapshot.ts";
import type { TagProducer } from "../stats/tag_extractor.ts";

/** The server state names Envoy reports (`/ready`, `/server_info`). */
export type ServerState = "LIVE" | "DRAINING" | "PRE_INITIALIZING" | "INITIALIZING";

/** `/server_info` data; the admin renders it as Envoy's snake_case `admin.v3.ServerInfo`. */
export interface ServerInfo {
  version: string;
  state: ServerState;
  uptimeCurrentEpochSeconds: number;
  uptimeAllEpochsSeconds: number;
  hotRestartVersion: string;
  /** Rendered as is: use `admin.v3.CommandLineOptions` snake_case keys. */
  commandLineOptions: Record<string, unknown>;
  node: { id: string; cluster: string };
}

/** One listener for `/listeners`; `address` as Envoy prints it ("0.0.0.0:80", "[::1]:80", a pipe path). */
export interface ListenerInfo {
  name: string;
  address: string;
}

/** One upstream host for `/clusters`; `address` is "ip:port" ("[v6]:port" for IPv6). */
export interface HostInfo {
  address: string;
  healthy: boolean;
  weight: number;
  priority: number;
  zone: string;
  region: string;
}

/** One cluster for `/clusters`. */
export interface ClusterInfo {
  name: string;
  hosts: HostInfo[];
}

/** `/drain_listeners` query flags. */
export interface DrainOptions {
  /** `inboundonly`: drain only inbound listeners. */
  inboundOnly: boolean;
  /** `graceful`: enter the graceful drain period before stopping listeners. */
  graceful: boolean;
  /** `skip_exit` (requires `graceful`): drain but do not stop the listeners afterwards. */
  skipExit: boolean;
}

/** What the admin app reads from, and asks of, the server. All plain data. */
export interface AdminServer {
  state(): ServerState;
  serverInfo(): ServerInfo;
  listeners(): ListenerInfo[];
  clusters(): ClusterInfo[];
  /** Envoy-style `{"configs":[{"@type":...}, ...]}` JSON, secrets already redacted. */
  configDump(): unknown;
  /** Logger (component) name to level name ("trace" ... "off"). */
  logLevels(): Record<string, string>;
  /** Sets one component's level, or every one's when `component` is undefined; throws Error for bad names. */
  setLogLevel(component: string | undefined, level: string): void;
  healthcheckFail(): void;
  healthcheckOk(): void;
  /** Begins shutdown; must not block (the admin still answers "OK\n"). */
  quit(): void;
  drainListeners(opts: DrainOptions): void;
  /** `admin.v3.Memory` fields (uint64 as decimal strings): allocated, heap_size, ... */
  memory(): Record<string, string>;
  /** Every isolate's stats, merged. */
  statsSnapshot(): Promise<StoreSnapshot>;
  /** Tag extraction for Prometheus names and labels. */
  statsTags(): TagProducer;
  resetCounters(): void;
  /** Reopens every access log file in every isolate (logrotate); resolves once done. */
  reopenLogs(): Promise<void>;
}

/** The level names Envoy (spdlog) accepts, in order. */
export const LOG_LEVELS = ["trace", "debug", "info", "warning", "error", "critical", "off"];

interface Param {
  id: string;
  help: string;
  /** Enum choices, shown as a select on the home page. */
  choices?: string[];
  /** A present/absent flag. */
  flag?: boolean;
}

interface Handler {
  path: string;
  help: string;
  /** Mutating handlers require POST. */
  post: boolean;
  params: Param[];
  run(c: Context, q: URLSearchParams): Response | Promise<Response>;
}

const JSON_TYPE = { "content-type": "application/json" };
const TEXT_TYPE = { "content-type": "text/plain; charset=UTF-8" };
const FORMAT: Param = { id: "format", help: "File format to use", choices: ["text", "json"] };

/** Plain text with Envoy's exact content type. */
function text(c: Context, body: string, status: 200 | 400 | 404 | 405 | 503 = 200): Response {
  return c.body(body, status, TEXT_TYPE);
}

/** Envoy's protobuf JSON printing indents one space per level. */
function json(c: Context, v: unknown, status: 200 | 400 | 404 = 200): Response {
  return c.body(JSON.stringify(v, null, 1), status, JSON_TYPE);
}

/** Splits "ip:port" / "[v6]:port" into Envoy's address JSON; anything else is a pipe path. */
export function addressJson(address: string): Record<string, unknown> {
  const m = /^\[([^\]]*)\]:(\d+)$/.exec(address) ?? /^([^:]*):(\d+)$/.exec(address);
  if (m) return { socket_address: { address: m[1], port_value: Number(m[2]) } };
  return { pipe: { path: address } };
}

/** Envoy's host health flags string: "healthy" or the failure flags. */
function healthFlags(h: HostInfo): string {
  return h.healthy ? "healthy" : "/failed_active_hc";
}

function clustersText(clusters: ClusterInfo[]): string {
  let out = "";
  for (const c of clusters) {
    out += `${c.name}::observability_name::${c.name}\n`;
    for (const h of c.hosts) {
      const p = `${c.name}::${h.address}::`;
      out += `${p}hostname::\n${p}health_flags::${healthFlags(h)}\n${p}weight::${h.weight}\n` +
        `${p}region::${h.region}\n${p}zone::${h.zone}\n${p}sub_zone::\n${p}canary::false\n` +
        `${p}priority::${h.priority}\n${p}success_rate::-1\n${p}local_origin_success_rate::-1\n`;
    }
  }
  return out;
}

/** `admin.v3.Clusters` JSON; proto3 defaults (0, "", false) are omitted as Envoy's printer does. */
function clustersJson(clusters: ClusterInfo[]): unknown {
  return {
    cluster_statuses: clusters.map((c) => ({
      name: c.name,
      host_statuses: c.hosts.map((h) => {
        const locality: Record<string, string> = {};
        if (h.region) locality.region = h.region;
        if (h.zone) locality.zone = h.zone;
        return {
          address: addressJson(h.address),
          health_status: {
            ...(h.healthy ? {} : { failed_active_health_check: true }),
            eds_health_status: "HEALTHY",
          },
          ...(h.weight ? { weight: h.weight } : {}),
          ...(Object.keys(locality).length ? { locality } : {}),
          ...(h.priority ? { priority: h.priority } : {}),
        };
      }),
      observability_name: c.name,
    })),
  };
}

/** A resource's name: its own `name`, or that of the message it wraps (`cluster`, `listener`, ...). */
function resourceName(r: unknown): string | undefined {
  if (!r || typeof r !== "object") return undefined;
  const o = r as Record<string, unknown>;
  if (typeof o.name === "string") return o.name;
  for (const v of Object.values(o)) {
    if (v && typeof v === "object" && typeof (v as Record<string, unknown>).name === "string") {
      return (v as Record<string, unknown>).name as string;
    }
  }
  return undefined;
}

/** Keeps only the FieldMask `paths` (dotted) of `v`, plus `@type`; applied per element of lists. */
export function applyMask(v: unknown, paths: string[][]): unknown {
  if (Array.isArray(v)) return v.map((x) => applyMask(x, paths));
  if (!v || typeof v !== "object") return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (k === "@type") {
      out[k] = x;
      continue;
    }
    const sub = paths.filter((p) => p[0] === k);
    if (sub.length === 0) continue;
    out[k] = sub.some((p) => p.length === 1) ? x : applyMask(x, sub.map((p) => p.slice(1)));
  }
  return out;
}

/** `/config_dump` with `resource=`, `mask=` and `name_regex=` applied to the server's dump. */
function configDump(c: Context, q: URLSearchParams, dump: unknown): Response {
  const configs = (dump as { configs?: unknown })?.configs;
  if (!Array.isArray(configs)) return json(c, dump);
  let nameMatch: (r: unknown) => boolean = () => true;
  const nameRegex = q.get("name_regex");
  if (nameRegex) {
    let re: RegExp;
    try {
      re = new RegExp(`^(?:${nameRegex})$`);
    } catch (e) {
      return text(c, `invalid name_regex: ${(e as Error).message}\n`, 400);
    }
    nameMatch = (r) => re.test(resourceName(r) ?? "");
  }
  const mask = q.get("mask");
  const paths = mask ? mask.split(",").filter(Boolean).map((p) => p.split(".")) : undefined;
  const resource = q.get("resource");
  let out: unknown[];
  if (resource) {
    out = [];
    let found = false;
    for (const cfg of configs) {
      const list = (cfg as Record<string, unknown>)?.[resource];
      if (!Array.isArray(list)) continue;
      found = true;
      for (const r of list) if (nameMatch(r)) out.push(paths ? applyMask(r, paths) : r);
    }
    if (!found) return text(c, `${resource} not found in config dump`, 404);
  } else {
    out = configs.map((cfg) => {
      if (!cfg || typeof cfg !== "object") return cfg;
      let o = cfg as Record<string, unknown>;
      if (nameRegex) {
        o = Object.fromEntries(
          Object.entries(o).map(([k, v]) => [k, Array.isArray(v) ? v.filter(nameMatch) : v]),
        );
      }
      return paths ? applyMask(o, paths) : o;
    });
  }
  return json(c, { configs: out });
}

function loggersText(levels: Record<string, string>): string {
  const names = Object.keys(levels).sort();
  return `active loggers:\n${names.map((n) => `  ${n}: ${levels[n]}\n`).join("")}\n`;
}

/** Applies a `/logging` query as Envoy does; returns an error message, or undefined. */
function changeLogLevels(server: AdminServer, q: URLSearchParams): string | undefined {
  const entries = [...q.entries()].filter(([, v]) => v !== "");
  if (entries.length === 0) return undefined;
  if (entries.length !== 1) return "invalid number of parameters";
  const [key, value] = entries[0];
  const known = server.logLevels();
  const changes: [string | undefined, string][] = [];
  if (key === "level") changes.push([undefined, value]);
  else if (key === "paths") {
    for (const pair of value.split(",")) {
      const nl = pair.split(":");
      if (nl.length !== 2) return "invalid paths= value";
      changes.push([nl[0], nl[1]]);
    }
  } else changes.push([key, value]);
  // Validate everything first so a bad entry changes nothing.
  for (const [name, level] of changes) {
    if (!LOG_LEVELS.includes(level)) return "unknown logger level";
    if (name !== undefined && !(name in known)) return "unknown logger name";
  }
  try {
    for (const [name, level] of changes) server.setLogLevel(name, level);
  } catch (e) {
    return (e as Error).message;
  }
  return undefined;
}

function helpText(handlers: Handler[]): string {
  let out = "admin commands are:\n";
  for (const h of handlers) {
    out += `  ${h.path}${h.post ? " (POST)" : ""}: ${h.help}\n`;
    for (const p of h.params) out += `      ${p.id}: ${p.help}\n`;
  }
  return out;
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** The home page: one form per endpoint (POST ones as POST forms), with its parameters. */
function homePage(handlers: Handler[]): string {
  const rows = handlers.filter((h) => h.path !== "/").map((h) => {
    const inputs = h.params.map((p) => {
      const field = p.choices
        ? `<select name="${esc(p.id)}">${
          p.choices.map((c) => `<option>${esc(c)}</option>`).join("")
        }</select>`
        : p.flag
        ? `<input type="checkbox" name="${esc(p.id)}" value="">`
        : `<input type="text" name="${esc(p.id)}">`;
      return `<tr><td></td><td class="param"><label title="${esc(p.help)}">${
        esc(p.id)
      } ${field}</label> ${esc(p.help)}</td></tr>`;
    }).join("\n");
    const form = `form-${esc(h.path.slice(1).replace(/\//g, "-"))}`;
    return `<tr><td><form id="${form}" action="${esc(h.path)}" method="${
      h.post ? "post" : "get"
    }"><button type="submit">${esc(h.path.slice(1))}</button>${
      h.post ? " (POST)" : ""
    }</form></td><td>${esc(h.help)}</td></tr>\n${
      inputs.replace(/<(input|select) /g, `<$1 form="${form}" `)
    }`;
  }).join("\n");
  return `<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>Envoy Admin</title>
<style>body{font-family:sans-serif}td{padding:2px 8px;vertical-align:top}.param{padding-left:2em;color:#555}</style>
</head>
<body>
<h1>Envoy Admin</h1>
<table>
<tr><th>Command</th><th>Description</th></tr>
${rows}
</table>
</body>
</html>
`;
}

/** The `filter=` of the stats endpoints: undefined when absent, an Error when invalid. */
function statsFilter(q: URLSearchParams): ((name: string) => boolean) | Error | undefined {
  const f = q.get("filter");
  if (!f) return undefined;
  try {
    return compileStatsFilter(f);
  } catch (e) {
    return e as Error;
  }
}

/** Builds the admin app. */
export function createAdminApp(server: AdminServer): Hono {
  const ok = (c: Context) => text(c, "OK\n");
  const handlers: Handler[] = [
    {
      path: "/",
      help: "Admin home page",
      post: false,
      params: [],
      run: (c) => c.body(homePage(handlers), 200, { "content-type": "text/html; charset=UTF-8" }),
    },
    {
      path: "/clusters",
      help: "upstream cluster status",
      post: false,
      params: [FORMAT],
      run: (c, q) =>
        q.get("format") === "json"
          ? json(c, clustersJson(server.clusters()))
          : text(c, clustersText(server.clusters())),
    },
    {
      path: "/config_dump",
      help: "dump current Envoy configs (experimental)",
      post: false,
      params: [
        { id: "resource", help: "The resource to dump" },
        {
          id: "mask",
          help: "The mask to apply. When both resource and mask are specified, " +
            "the mask is applied to every element in the desired repeated field so that only a " +
            "subset of fields are returned. The mask is parsed as a ProtobufWkt::FieldMask",
        },
        {
          id: "name_regex",
          help: "Dump only the currently loaded configurations whose names " +
            "match the specified regex. Can be used with both resource and mask query parameters.",
        },
      ],
      run: (c, q) => configDump(c, q, server.configDump()),
    },
    {
      path: "/drain_listeners",
      help: "drain listeners",
      post: true,
      params: [
        {
          id: "graceful",
          flag: true,
          help: "When draining listeners, enter a graceful drain " +
            "period prior to closing listeners. This behaviour and duration is configurable via " +
            "server options or CLI",
        },
        {
          id: "skip_exit",
          flag: true,
          help: "When draining listeners, do not exit after the " +
            "drain period. This must be used with graceful",
        },
        {
          id: "inboundonly",
          flag: true,
          help: "Drains all inbound listeners. traffic_direction " +
            "field in envoy_v3_api_msg_config.listener.v3.Listener is used to determine whether a " +
            "listener is inbound or outbound.",
        },
      ],
      run: (c, q) => {
        const graceful = q.has("graceful");
        const skipExit = q.has("skip_exit");
        if (skipExit && !graceful) return text(c, "skip_exit requires graceful\n", 400);
        server.drainListeners({ inboundOnly: q.has("inboundonly"), graceful, skipExit });
        return ok(c);
      },
    },
    {
      path: "/healthcheck/fail",
      help: "cause the server to fail health checks",
      post: true,
      params: [],
      run: (c) => (server.healthcheckFail(), ok(c)),
    },
    {
      path: "/healthcheck/ok",
      help: "cause the server to pass health checks",
      post: true,
      params: [],
      run: (c) => (server.healthcheckOk(), ok(c)),
    },
    {
      path: "/help",
      help: "print out list of admin commands",
      post: false,
      params: [],
      run: (c) => text(c, helpText(handlers)),
    },
    {
      path: "/listeners",
      help: "print listener info",
      post: false,
      params: [FORMAT],
      run: (c, q) => {
        const ls = server.listeners();
        if (q.get("format") === "json") {
          return json(c, {
            listener_statuses: ls.map((l) => ({
              name: l.name,
              local_address: addressJson(l.address),
            })),
          });
        }
        return text(c, ls.map((l) => `${l.name}::${l.address}\n`).join(""));
      },
    },
    {
      path: "/logging",
      help: "query/change logging levels",
      post: true,
      params: [
        {
          id: "paths",
          help: "Change multiple logging levels by setting to " +
            "<file_path1>:<desired_level1>,<file_path2>:<desired_level2>.",
        },
        { id: "level", help: "desired logging level", choices: ["", ...LOG_LEVELS] },
      ],
      run: (c, q) => {
        const err = changeLogLevels(server, q);
        const levels = loggersText(server.logLevels());
        if (err === undefined) return text(c, levels);
        return text(
          c,
          `error: ${err}\n\n` +
            "usage: /logging?<name>=<level> (change single level)\n" +
            "usage: /logging?paths=name1:level1,name2:level2,... (change multiple levels)\n" +
            "usage: /logging?level=<level> (change all levels)\n" +
            `levels: ${LOG_LEVELS.map((l) => `${l} `).join("")}\n` + levels,
          404,
        );
      },
    },
    {
      path: "/memory",
      help: "print current allocation/heap usage",
      post: false,
      params: [],
      run: (c) => json(c, server.memory()),
    },
    {
      path: "/reset_counters",
      help: "reset all counters to zero",
      post: true,
      params: [],
      run: (c) => (server.resetCounters(), ok(c)),
    },
    {
      path: "/stats",
      help: "print server stats",
      post: false,
      params: [
        {
          id: "usedonly",
          help: "Only include stats that have been written by system since restart",
        },
        { id: "filter", help: "Regular expression (Google re2) for filtering stats" },
        { id: "format", help: "Format to use", choices: ["text", "json", "prometheus"] },
        {
          id: "histogram_buckets",
          help: "Histogram bucket display mode",
          choices: ["cumulative", "disjoint", "detailed", "none"],
        },
      ],
      run: async (c, q) => {
        const filter = statsFilter(q);
        if (filter instanceof Error) return text(c, `Invalid re2 regex: ${filter.message}\n`, 400);
        const snap = await server.statsSnapshot();
        const usedOnly = q.has("usedonly");
        const format = q.get("format") ?? "text";
        if (format === "prometheus") {
          return text(c, renderPrometheus(snap, server.statsTags(), { usedOnly, filter }));
        }
        const buckets = q.get("histogram_buckets");
        const opts = {
          usedOnly,
          filter,
          histogramBuckets: (buckets ?? "none") as HistogramBucketsMode,
        };
        return format === "json"
          ? c.body(renderJson(snap, opts), 200, { "content-type": "application/json" })
          : text(c, renderText(snap, opts));
      },
    },
    {
      path: "/stats/prometheus",
      help: "print server stats in prometheus format",
      post: false,
      params: [
        {
          id: "usedonly",
          help: "Only include stats that have been written by system since restart",
        },
        { id: "filter", help: "Regular expression (Google re2) for filtering stats" },
      ],
      run: async (c, q) => {
        const filter = statsFilter(q);
        if (filter instanceof Error) return text(c, `Invalid re2 regex: ${filter.message}\n`, 400);
        const snap = await server.statsSnapshot();
        return text(
          c,
          renderPrometheus(snap, server.statsTags(), { usedOnly: q.has("usedonly"), filter }),
        );
      },
    },
    {
      path: "/quitquitquit",
      help: "exit the server",
      post: true,
      params: [],
      run: (c) => (server.quit(), ok(c)),
    },
    {
      path: "/ready",
      help: "print server state, return 200 if LIVE, otherwise return 503",
      post: false,
      params: [],
      run: (c) => {
        const state = server.state();
        // Envoy answers 200 only when LIVE; the body is the state name either way.
        return text(c, `${state}\n`, state === "LIVE" ? 200 : 503);
      },
    },
    {
      path: "/reopen_logs",
      help: "reopen access logs",
      post: true,
      params: [],
      run: async (c) => (await server.reopenLogs(), ok(c)),
    },
    {
      path: "/server_info",
      help: "print server version/status information",
      post: false,
      params: [],
      run: (c) => {
        const i = server.serverInfo();
        return json(c, {
          version: i.version,
          state: i.state,
          uptime_current_epoch: `${Math.floor(i.uptimeCurrentEpochSeconds)}s`,
          uptime_all_epochs: `${Math.floor(i.uptimeAllEpochsSeconds)}s`,
          hot_restart_version: i.hotRestartVersion,
          command_line_options: i.commandLineOptions,
          node: i.node,
        });
      },
    },
  ];
  const byPath = new Map(handlers.map((h) => [h.path, h]));

  const app = new Hono();
  app.all("*", async (c) => {
    const url = new URL(c.req.url);
    const h = byPath.get(url.pathname);
    let res: Response;
    if (!h) {
      res = text(c, `invalid path. ${helpText(handlers)}`, 404);
    } else if (h.post && c.req.method !== "POST") {
      // Envoy answers 405 here too; denvoy lets a parameterless `GET /logging` read the levels.
      const readOnlyLogging = h.path === "/logging" && c.req.method === "GET" &&
        url.search.length <= 1;
      res = readOnlyLogging
        ? text(c, loggersText(server.logLevels()))
        : text(c, `Method ${c.req.method} not allowed, POST required.`, 405);
    } else {
      // Home-page forms POST their fields as a form body; Envoy reads those like query params.
      const params = new URLSearchParams(url.searchParams);
      const type = c.req.header("content-type") ?? "";
      if (c.req.method === "POST" && type.startsWith("application/x-www-form-urlencoded")) {
        for (const [k, v] of new URLSearchParams(await c.req.text())) params.append(k, v);
      }
      res = await h.run(c, params);
    }
    // Headers Envoy puts on every admin response.
    res.headers.set("cache-control", "no-cache, max-age=0");
    res.headers.set("x-content-type-options", "nosniff");
    return res;
  });
  return app;
}

/** A running admin listener. */
export interface AdminListener {
  port: number;
  close(): Promise<void>;
}

/** Serves the admin app on `hostname:port`; throws a clear Error if it cannot bind. */
export function startAdmin(app: Hono, hostname: string, port: number): AdminListener {
  try {
    const srv = Deno.serve({ hostname, port, onListen: () => {} }, app.fetch);
    return { port: srv.addr.port, close: () => srv.shutdown() };
  } catch (e) {
    const why = e instanceof Deno.errors.AddrInUse
      ? "address already in use"
      : (e as Error).message;
    throw new Error(`admin: cannot bind ${hostname}:${port}: ${why}`);
  }
}
