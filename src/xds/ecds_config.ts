/**
 * ECDS filter configs as one isolate sees them (Envoy's dynamic filter config providers): the
 * main thread subscribes (xds/ecds_provider.ts), checks each `TypedExtensionConfig` and posts
 * it to every isolate, which stores it here by kind, config source and name. Each filter built
 * from a `config_discovery` watches its entry and rebuilds its factory once per update, so the
 * next connection (or stream) gets the new config and those that started keep theirs. The
 * kinds are Envoy's stat prefixes: HTTP filters (http/ecds_filter.ts), listener filters and
 * network filters (listener/ecds_filters.ts), and their checks of `config_discovery` are here.
 *
 * @module
 */
import type { Any } from "@bufbuild/protobuf/wkt";
import type { ExtensionConfigSource } from "../../proto/gen/envoy/config/core/v3/config_source_pb.ts";
import { getLogger } from "../common/logger.ts";
import type { ExtensionFactory, ExtensionRegistry } from "../config/extensions.ts";
import { sdsSourceKey } from "../extensions/transport_sockets/tls/sds_registry.ts";
import { configSourceProblems } from "./config_source.ts";
import { ECDS } from "./resource_types.ts";

const log = getLogger("config");

/**
 * What a filter config configures, named as Envoy's stats name it
 * (`extension_config_discovery.<kind>.<name>.*`).
 */
export type EcdsKind = "http_filter" | "tcp_listener_filter" | "network_filter";

/**
 * One filter config ECDS delivered: its key (`ecdsKey`) and `typed_config`; none when the
 * control plane removed it (or its TTL passed): the default config serves, else none.
 */
export interface EcdsConfigUpdate {
  key: string;
  config?: Any;
}

/** The key of the `kind` filter config `name` from `source`'s config source. */
export function ecdsKey(kind: EcdsKind, name: string, source: ExtensionConfigSource): string {
  return `${kind} ${name} ${source.configSource ? sdsSourceKey(source.configSource) : ""}`;
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

/** What a filter built from ECDS uses now. */
export interface EcdsHolder<T> {
  readonly current: T;
}

/**
 * Watches the `kind` filter config `name`: `build` makes the filter's factory from the config
 * delivered (else the default config); until one is built, `missing` serves. The caller keeps
 * the holder (its filter factory reads `current`); it is watched weakly, so a replaced
 * listener's filters go with it.
 */
export function watchEcdsConfig<T>(
  kind: EcdsKind,
  name: string,
  source: ExtensionConfigSource,
  build: (config: Any) => T,
  missing: T,
): EcdsHolder<T> {
  const e = entry(ecdsKey(kind, name, source));
  const holder = { current: missing };
  const rebuild = (h: typeof holder) => {
    const config = e.config ?? source.defaultConfig;
    if (!config) {
      // Removed with no default config: as Envoy, the filter serves with no config.
      h.current = missing;
      return;
    }
    try {
      h.current = build(config);
    } catch (err) {
      // The main thread checked it already; keep the previous config.
      log.warn(`ECDS ${kind} '${name}' not updated: ${(err as Error).message}`);
    }
  };
  rebuild(holder);
  const ref = new WeakRef(holder);
  const onUpdate = () => {
    const h = ref.deref();
    if (h) rebuild(h);
    else e.subscribers.delete(onUpdate);
  };
  e.subscribers.add(onUpdate);
  return holder;
}

/** A problem with a filter's `config_discovery`, at a field relative to it. */
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

/** Whether two type URLs name the same message (the host part may differ). */
export function sameType(a: string, b: string): boolean {
  return a.slice(a.lastIndexOf("/") + 1) === b.slice(b.lastIndexOf("/") + 1);
}

/**
 * What Envoy refuses in a filter's `config_discovery` (`name` is the filter's): `takes` says
 * whether an extension is of the filter's kind, `kindName` names that kind in messages.
 */
export function ecdsSourceProblems(
  name: string,
  source: ExtensionConfigSource,
  extensions: ExtensionRegistry,
  takes: (f: ExtensionFactory) => boolean,
  kindName: string,
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
    const f = extensions.byTypeUrl(t);
    if (!f) {
      report(`type_urls[${i}]`, `Didn't find a registered implementation for type: '${t}'`);
    } else if (!takes(f)) {
      report(`type_urls[${i}]`, `'${f.name}' is not ${kindName}`);
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
