/**
 * Validated live reload of the bootstrap file (what Envoy never offered: Envoy issue 156).
 * On `--watch-config` file changes, SIGHUP or `POST /config_reload`, the file is loaded and
 * checked in full, exactly as at start-up. A valid file's static listeners and clusters are
 * applied through the same diff, warm and drain path as LDS and CDS updates (no connection
 * is dropped); an invalid one changes nothing: every issue is logged with file:line:col and
 * field path, `server.bootstrap_reload.update_rejected` counts it and `/config_dump` shows it
 * as an `UpdateFailureState`. Only static resources reload: a file that changes anything else
 * (admin, stats, node, dynamic_resources, ...) is rejected, naming the fields, since those
 * take a restart.
 *
 * @module
 */
import { create, equals, type JsonObject } from "@bufbuild/protobuf";
import { messageSchema } from "../config/api.ts";
import type { Bootstrap } from "../../proto/gen/envoy/config/bootstrap/v3/bootstrap_pb.ts";
import { xxHash64 } from "../common/hash.ts";
import { getLogger } from "../common/logger.ts";
import { type BootstrapSource, loadBootstrap } from "../config/bootstrap.ts";
import { formatIssue } from "../config/errors.ts";
import type { ExtensionRegistry } from "../config/extensions.ts";
import type { Scope } from "../stats/store.ts";
import { SubscriptionStats } from "./subscription_stats.ts";
import type { XdsManager } from "./xds_manager.ts";

// The API registry's schemas, not the generated modules' (see config/api_enums.ts).
const bootstrapSchema = () => messageSchema<Bootstrap>("envoy.config.bootstrap.v3.Bootstrap");

const log = getLogger("config");

/** How long a burst of file events (an editor's write, a copy) is let settle before reading. */
const SETTLE_MS = 100;

/** The outcome of a reload. */
export interface ReloadResult {
  ok: boolean;
  /** What changed, or why nothing did. */
  message: string;
}

/** The last rejected reload (`admin.v3.UpdateFailureState`). */
interface Rejection {
  versionInfo: string;
  details: string;
  at: Date;
}

/** A version for a bootstrap text: the hex of its xxHash64. */
export function bootstrapVersion(text: string): string {
  return xxHash64(text).toString(16).padStart(16, "0");
}

/** The top-level fields (other than static resources) in which `a` and `b` differ. */
export function nonReloadableChanges(a: Bootstrap, b: Bootstrap): string[] {
  const out: string[] = [];
  for (const m of bootstrapSchema().members) {
    if (m.name === "static_resources") continue;
    const only = (x: Bootstrap) =>
      create(bootstrapSchema(), {
        [m.localName]: (x as unknown as Record<string, unknown>)[m.localName],
      });
    if (!equals(bootstrapSchema(), only(a), only(b))) out.push(m.name);
  }
  return out;
}

/** Reloads the bootstrap on demand and, with `--watch-config`, when its file changes. */
export class BootstrapReloader {
  #statsCache: SubscriptionStats | undefined;
  readonly #store: Scope;
  #current: Bootstrap;
  #version: string;
  #rejection: Rejection | undefined;
  #watcher: Deno.FsWatcher | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly source: BootstrapSource,
    readonly extensions: ExtensionRegistry,
    readonly xds: XdsManager,
    current: Bootstrap,
    stats: Scope,
    /** Called with the new bootstrap once applied. */
    readonly onApplied: (b: Bootstrap) => void,
  ) {
    this.#current = current;
    this.#store = stats;
    this.#version = source.configPath ? this.#read() ?? "" : "";
  }

  /** Declared with the first reload: a server never reloaded shows none of them. */
  get #stats(): SubscriptionStats {
    if (!this.#statsCache) {
      this.#statsCache = new SubscriptionStats(this.#store, "server.bootstrap_reload");
      this.#statsCache.versionText.set(this.#version);
    }
    return this.#statsCache;
  }

  #read(): string | undefined {
    try {
      return bootstrapVersion(Deno.readTextFileSync(this.source.configPath!));
    } catch {
      return undefined;
    }
  }

  /** Loads, checks and applies the bootstrap file; `trigger` says why (for the log). */
  reload(trigger: string): ReloadResult {
    this.#stats.updateAttempt.inc();
    const start = performance.now();
    const version = this.#read() ?? "";
    log.info(`bootstrap reload (${trigger}): loading '${this.source.configPath}'`);
    const result = loadBootstrap(this.source, this.extensions);
    if (!result.bootstrap) {
      const details = result.issues.map(formatIssue).join("\n");
      return this.#reject(version, details);
    }
    const next = result.bootstrap;
    const fixed = nonReloadableChanges(this.#current, next);
    if (fixed.length > 0) {
      return this.#reject(
        version,
        `${this.source.configPath}: ${fixed.join(", ")} changed: only static_resources ` +
          "(listeners and clusters) can be reloaded; restart to apply the rest",
      );
    }
    let changed: string[];
    try {
      changed = this.xds.reloadStatic(next);
    } catch (e) {
      return this.#reject(version, `${this.source.configPath}: ${(e as Error).message}`);
    }
    this.#current = next;
    this.#version = version;
    this.#rejection = undefined;
    this.#stats.accepted(version, performance.now() - start);
    this.onApplied(next);
    const message = changed.length === 0
      ? "bootstrap reloaded: nothing changed"
      : `bootstrap reloaded: ${changed.join(", ")}`;
    log.info(message);
    return { ok: true, message };
  }

  #reject(versionInfo: string, details: string): ReloadResult {
    this.#stats.updateRejected.inc();
    this.#rejection = { versionInfo, details, at: new Date() };
    log.error(`bootstrap reload rejected; the running config is unchanged:\n${details}`);
    return { ok: false, message: details };
  }

  /** Watches the bootstrap file: a change (after a short settling time) reloads it. */
  watch(): void {
    const path = this.source.configPath;
    if (!path) return;
    const i = path.lastIndexOf("/");
    const dir = i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
    const file = path.slice(i + 1);
    try {
      this.#watcher = Deno.watchFs(dir, { recursive: false });
    } catch (e) {
      log.error(`--watch-config: cannot watch '${dir}': ${(e as Error).message}`);
      return;
    }
    const watcher = this.#watcher;
    (async () => {
      for await (const e of watcher) {
        if (e.kind === "access" || !e.paths.some((p) => p.endsWith(`/${file}`) || p === path)) {
          continue;
        }
        clearTimeout(this.#timer);
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          // An editor's save or a touch without a change is not a reload.
          if (this.#read() === this.#version && !this.#rejection) return;
          if (this.#read() === this.#rejection?.versionInfo) return;
          this.reload("file changed");
        }, SETTLE_MS);
      }
    })().catch((e) => log.error(`--watch-config: ${(e as Error).message}`));
  }

  /** Stops watching. */
  stop(): void {
    clearTimeout(this.#timer);
    try {
      this.#watcher?.close();
    } catch { /* already closed */ }
    this.#watcher = undefined;
  }

  /** The config dump entry of the last rejected reload (`admin.v3.UpdateFailureState`). */
  dumpRejection(): JsonObject | undefined {
    const r = this.#rejection;
    if (!r) return undefined;
    return {
      "@type": "type.googleapis.com/envoy.admin.v3.UpdateFailureState",
      last_update_attempt: r.at.toISOString(),
      details: r.details,
      version_info: r.versionInfo,
    };
  }
}
