/**
 * The admin API (Hono app on `admin.address`): every Envoy endpoint, in Envoy's formats. Paths
 * match exactly (a trailing slash is a 404, as in Envoy), mutating endpoints answer 405 unless
 * POSTed, form bodies count as query parameters, unknown paths get Envoy's 404 with the command
 * list, and every request goes to the admin access log. The endpoints themselves live in one
 * module per group (`clusters.ts`, `config_dump.ts`, `runtime.ts`, ...).
 *
 * @module
 */
import type { AdminGuard, AdminTls } from "./security.ts";
import type { JsonObject } from "@bufbuild/protobuf";
import type { Context } from "hono";
import { Hono } from "hono";
import { getLogger } from "../common/logger.ts";
import type { AccessLogInstance } from "../extensions/access_loggers/access_log.ts";
import { StreamInfo } from "../stream_info/stream_info.ts";
import { type AdminPeer, adminStreamInfo } from "./access_log.ts";
import { type AdminListener, serveAdmin } from "./admin_server.ts";
import type { Scope } from "../stats/store.ts";
import { type ClusterInfo, clustersHandler } from "./clusters.ts";
import { configDumpHandler } from "./config_dump.ts";
import { type ConfigReloadAdmin, configReloadHandler } from "./config_reload.ts";
import { type Handler, text } from "./handler.ts";
import { helpText, homePage } from "./help.ts";
import { listenerHandlers, type ListenersAdmin } from "./listeners.ts";
import { loggersText, type LoggingAdmin, loggingHandler, reopenLogsHandler } from "./logging.ts";
import { type RuntimeAdmin, runtimeHandlers } from "./runtime.ts";
import { type ServerInfoAdmin, serverInfoHandlers } from "./server_info.ts";
import { type StatsAdmin, statsHandlers } from "./stats.ts";

export type { ClusterInfo, HostInfo, HostStatValues } from "./clusters.ts";
export { addressJson } from "./clusters.ts";
export type { DrainOptions, ListenerInfo } from "./listeners.ts";
export { LOG_LEVELS } from "./logging.ts";
export type { ServerInfo, ServerState } from "./server_info.ts";

const log = getLogger("admin");

/** What the admin app reads from, and asks of, the server. All plain data. */
export interface AdminServer
  extends
    ServerInfoAdmin,
    StatsAdmin,
    LoggingAdmin,
    ListenersAdmin,
    RuntimeAdmin,
    ConfigReloadAdmin {
  /** Every cluster with its hosts and their stats (merged over the workers). */
  clusters(): Promise<ClusterInfo[]>;
  /**
   * The config dump sections (`admin.v3.*ConfigDump` as proto JSON with `@type`, secrets
   * redacted), in Envoy's order; with the endpoints dump when `includeEds`.
   */
  configDump(includeEds: boolean): JsonObject[];
  healthcheckFail(): void;
  healthcheckOk(): void;
  /** Begins shutdown; must not block (the admin still answers "OK\n"). */
  quit(): void;
}

/** Options of the admin app. */
export interface AdminAppOptions {
  /** The admin's access loggers (`admin.access_log`, `admin.access_log_path`). */
  accessLogs?: AccessLogInstance[];
  /** The admin listener's address, for `%DOWNSTREAM_LOCAL_ADDRESS%`. */
  localAddress?: () => string;
  /** The opt-in hardening (security.ts): run before every request. */
  guard?: AdminGuard;
}

/** Every endpoint, in no particular order (help and the home page sort them by path). */
function allHandlers(server: AdminServer, ok: (c: Context) => Response): Handler[] {
  const handlers: Handler[] = [
    {
      path: "/",
      help: "Admin home page",
      post: false,
      params: [],
      run: (c) => c.body(homePage(handlers), 200, { "content-type": "text/html; charset=UTF-8" }),
    },
    {
      path: "/help",
      help: "print out list of admin commands",
      post: false,
      params: [],
      run: (c) => text(c, helpText(handlers)),
    },
    clustersHandler(() => server.clusters()),
    configDumpHandler((includeEds) => server.configDump(includeEds)),
    configReloadHandler(server),
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
    loggingHandler(server),
    reopenLogsHandler(server, ok),
    {
      path: "/quitquitquit",
      help: "exit the server",
      post: true,
      params: [],
      run: (c) => (server.quit(), ok(c)),
    },
    ...listenerHandlers(server),
    ...runtimeHandlers(server),
    ...serverInfoHandlers(server),
    ...statsHandlers(server),
  ];
  return handlers;
}

/** Builds the admin app. */
export function createAdminApp(server: AdminServer, opts: AdminAppOptions = {}): Hono {
  const handlers = allHandlers(server, (c) => text(c, "OK\n"));
  const byPath = new Map(handlers.map((h) => [h.path, h]));
  const accessLogs = opts.accessLogs ?? [];

  const app = new Hono();
  app.all("*", async (c) => {
    const si = new StreamInfo();
    const url = new URL(c.req.url);
    const h = byPath.get(url.pathname);
    let requestBytes = 0;
    let res: Response;
    const denied = opts.guard?.(
      c.req.method,
      url.pathname,
      c.req.header("authorization"),
      h?.post ?? false,
    );
    if (denied) {
      res = text(c, denied.body, denied.status);
      for (const [k, v] of Object.entries(denied.headers ?? {})) res.headers.set(k, v);
    } else if (!h) {
      res = text(c, `invalid path. ${helpText(handlers)}`, 404);
    } else if (h.post && c.req.method !== "POST") {
      // Envoy answers 405 here too; denvoy lets a parameterless `GET /logging` read the levels.
      const readOnlyLogging = h.path === "/logging" && c.req.method === "GET" &&
        url.search.length <= 1;
      if (readOnlyLogging) res = text(c, loggersText(server.logLevels()));
      else {
        log.error(`admin path "${h.path}" mutates state, method=${c.req.method} rather than POST`);
        res = text(c, `Method ${c.req.method} not allowed, POST required.`, 405);
      }
    } else {
      // Home-page forms POST their fields as a form body; Envoy reads those like query params.
      const params = new URLSearchParams(url.searchParams);
      if (c.req.method === "POST") {
        const body = await c.req.text();
        requestBytes = new TextEncoder().encode(body).length;
        const type = c.req.header("content-type") ?? "";
        if (type.startsWith("application/x-www-form-urlencoded")) {
          for (const [k, v] of new URLSearchParams(body)) params.append(k, v);
        }
      }
      try {
        res = await h.run(c, params);
      } catch (e) {
        // A bug in a handler must not take the admin down; say what failed.
        log.error(`admin ${h.path}: ${(e as Error).stack ?? e}`);
        res = text(c, `${h.path}: ${(e as Error).message}\n`, 500);
      }
    }
    // Headers Envoy puts on every admin response.
    res.headers.set("cache-control", "no-cache, max-age=0");
    res.headers.set("x-content-type-options", "nosniff");
    if (accessLogs.length > 0) {
      const info = await adminStreamInfo(
        c.req.raw,
        res,
        si,
        requestBytes,
        c.env as AdminPeer | undefined,
        opts.localAddress?.() ?? "",
      );
      for (const l of accessLogs) l.log({ streamInfo: info });
    }
    return res;
  });
  return app;
}

export type { AdminListener } from "./admin_server.ts";

/**
 * Serves the admin app on `hostname:port`, counting `listener.admin.*` and `http.admin.*` into
 * `stats` (over HTTPS with `tls`); rejects with a clear Error if it cannot bind.
 */
export function startAdmin(
  app: Hono,
  hostname: string,
  port: number,
  stats: Scope,
  ignoreGlobalConnLimit = false,
  tls?: AdminTls,
): Promise<AdminListener> {
  return serveAdmin(
    (req, peer) => app.fetch(req, peer),
    hostname,
    port,
    stats,
    ignoreGlobalConnLimit,
    tls,
  );
}
