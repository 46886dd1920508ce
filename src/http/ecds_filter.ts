/**
 * HTTP filters whose config comes from ECDS (`http_filters[].config_discovery`): Envoy's
 * dynamic filter config provider, as one isolate sees it. The main thread subscribes
 * (xds/ecds_provider.ts), checks each `TypedExtensionConfig`, and posts it to every isolate,
 * which stores it here by config source and name; each connection manager's filter built from
 * it swaps its factory once per update, so the next stream gets the new config and streams
 * that started keep theirs. Until a config comes, the `default_config` serves; without one,
 * a stream gets Envoy's missing-config reply (500, response flag NFCF).
 *
 * @module
 */
import type { Any } from "@bufbuild/protobuf/wkt";
import type { ExtensionConfigSource } from "../../proto/gen/envoy/config/core/v3/config_source_pb.ts";
import { getLogger } from "../common/logger.ts";
import type { ServerContext } from "../config/extensions.ts";
import { sdsSourceKey } from "../extensions/transport_sockets/tls/sds_registry.ts";
import { configSourceProblems } from "../xds/config_source.ts";
import { ECDS } from "../xds/resource_types.ts";
import type { HttpFilterFactoryCb, StreamFilter, StreamFilterCallbacks } from "./filter.ts";

const log = getLogger("config");

/** One filter config ECDS delivered: its key (`ecdsKey`) and `typed_config`. */
export interface EcdsConfigUpdate {
  key: string;
  config: Any;
}

/** The key of filter config `name` from `source`'s config source. */
export function ecdsKey(name: string, source: ExtensionConfigSource): string {
  return `${name} ${source.configSource ? sdsSourceKey(source.configSource) : ""}`;
}

interface Entry {
  config?: Any;
  readonly subscribers: Set<() => void>;
}

const entries = new Map<string, Entry>();

function entry(key: string): Entry {
  let e = entries.get(key);
  if (!e) entries.set(key, e = { subscribers: new Set() });
  return e;
}

/** Applies filter configs the main thread accepted. */
export function applyEcdsConfigs(updates: readonly EcdsConfigUpdate[]): void {
  for (const u of updates) {
    const e = entry(u.key);
    e.config = u.config;
    for (const cb of [...e.subscribers]) cb();
  }
}

/** Envoy's MissingConfigFilter: no config arrived and there is no default. */
function missingConfigFilter(cb: StreamFilterCallbacks): StreamFilter {
  return {
    decoder: {
      decodeHeaders() {
        cb.streamInfo.setFlag("NFCF");
        cb.sendLocalReply(500, "");
        return "stop";
      },
    },
  };
}

/**
 * The factory of an ECDS filter named `name`: each stream gets a filter from the current
 * config's factory (built once per update, not per stream).
 */
export function ecdsHttpFilter(
  name: string,
  source: ExtensionConfigSource,
  server: ServerContext,
  statPrefix: string,
): HttpFilterFactoryCb {
  const e = entry(ecdsKey(name, source));
  const build = (config: Any): HttpFilterFactoryCb => {
    const typeName = config.typeUrl.slice(config.typeUrl.lastIndexOf("/") + 1);
    const factory = server.extensions.byType(typeName);
    if (!factory?.createHttpFilter) {
      throw new Error(`HTTP filter '${name}': no HTTP filter takes ${typeName}`);
    }
    return factory.createHttpFilter(config, server, statPrefix);
  };
  const holder = { current: missingConfigFilter as HttpFilterFactoryCb };
  const rebuild = (h: typeof holder) => {
    const config = e.config ?? source.defaultConfig;
    if (!config) return;
    try {
      h.current = build(config);
    } catch (err) {
      // The main thread built it once already; keep the previous config.
      log.warn(`ECDS filter '${name}' not updated: ${(err as Error).message}`);
    }
  };
  rebuild(holder);
  // Held weakly: a replaced listener's filter goes with it (and its subscription at the next
  // update after that).
  const ref = new WeakRef(holder);
  const onUpdate = () => {
    const h = ref.deref();
    if (h) rebuild(h);
    else e.subscribers.delete(onUpdate);
  };
  e.subscribers.add(onUpdate);
  return (cb) => holder.current(cb);
}

/** A problem with an ECDS filter's `config_discovery`, at a field relative to it. */
export interface EcdsProblem {
  field: string;
  message: string;
  unsupported: boolean;
}

/** Envoy's message for a filter config of a type the filter was not declared to take. */
export function typeUrlMismatch(typeUrl: string, typeUrls: readonly string[]): string {
  return `Error: filter config has type URL ${typeUrl.slice(typeUrl.lastIndexOf("/") + 1)} ` +
    `but expect ${typeUrls.map((t) => t.slice(t.lastIndexOf("/") + 1)).join(", ")}.`;
}

/** What Envoy refuses in an HTTP filter's `config_discovery` (`name` is the filter's). */
export function ecdsFilterProblems(
  name: string,
  source: ExtensionConfigSource,
  extensions: ServerContext["extensions"],
): EcdsProblem[] {
  const out: EcdsProblem[] = [];
  const report = (field: string, message: string, unsupported = false) =>
    out.push({ field, message, unsupported });
  if (!source.configSource) report("config_source", "config_source is required");
  else {
    for (const p of configSourceProblems(source.configSource, ECDS)) {
      report(`config_source${p.field ? "." + p.field : ""}`, p.message, p.unsupported);
    }
  }
  if (source.typeUrls.length === 0) report("type_urls", "type_urls needs at least one type URL");
  source.typeUrls.forEach((t, i) => {
    const f = extensions.byType(t.slice(t.lastIndexOf("/") + 1));
    if (!f) {
      report(`type_urls[${i}]`, `Didn't find a registered implementation for type: '${t}'`);
    } else if (!f.createHttpFilter) {
      report(`type_urls[${i}]`, `'${f.name}' is not an HTTP filter`);
    }
  });
  const dflt = source.defaultConfig;
  if (dflt && !source.typeUrls.some((t) => sameType(t, dflt.typeUrl))) {
    report("default_config", typeUrlMismatch(dflt.typeUrl, source.typeUrls));
  }
  if (source.applyDefaultConfigWithoutWarming && !dflt) {
    report(
      "apply_default_config_without_warming",
      `Error: filter config ${name} applied without warming but has no default config.`,
    );
  }
  return out;
}

/** Whether two type URLs name the same message (the host part may differ). */
export function sameType(a: string, b: string): boolean {
  return a.slice(a.lastIndexOf("/") + 1) === b.slice(b.lastIndexOf("/") + 1);
}
