/**
 * Secrets delivered by SDS over xDS (`sds_config` with `ads` or a gRPC `api_config_source`),
 * as one isolate knows them. The main thread subscribes (xds/sds_provider.ts), checks each
 * update, applies it here and posts it to every worker, which applies it here too; the TLS
 * contexts of that isolate that name the secret are told and rebuild theirs for new
 * handshakes (open connections keep theirs). A secret is known by its config source and
 * name, as Envoy's secret manager keys its dynamic secret providers.
 *
 * @module
 */
import { toJsonString } from "@bufbuild/protobuf";
import type { ConfigSource } from "../../../../proto/gen/envoy/config/core/v3/config_source_pb.ts";
import { messageSchema } from "../../../config/api.ts";
import type { Secret } from "../../../../proto/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.ts";
import type { SecretSource } from "./secret_manager.ts";

/** One secret changed: its config source (`sdsSourceKey`), name and value. */
export interface SdsSecretUpdate {
  source: string;
  name: string;
  secret: Secret;
}

/** The key of a config source: the same source in two contexts is the same secret supplier. */
export function sdsSourceKey(cs: ConfigSource): string {
  // The API registry's schema, not the generated module's: importing that one would boot its
  // descriptors (and its imports') in every worker, SDS or not.
  return toJsonString(messageSchema<ConfigSource>("envoy.config.core.v3.ConfigSource"), cs);
}

/** Whether secrets named with `cs` come over xDS (rather than static or from a file). */
export function isXdsSecretSource(cs: ConfigSource | undefined): boolean {
  const c = cs?.configSourceSpecifier.case;
  return c === "ads" || c === "apiConfigSource";
}

/** The secrets of one config source; a secret not supplied yet is missing (not ready). */
export class XdsSecretSource implements SecretSource {
  readonly #secrets = new Map<string, Secret>();
  readonly #subscribers = new Set<() => void>();

  get(name: string): Secret | undefined {
    return this.#secrets.get(name);
  }

  subscribe(cb: () => void): () => void {
    this.#subscribers.add(cb);
    return () => this.#subscribers.delete(cb);
  }

  /** Sets secrets; subscribers hear of it once. */
  set(secrets: readonly SdsSecretUpdate[]): void {
    for (const s of secrets) this.#secrets.set(s.name, s.secret);
    for (const cb of [...this.#subscribers]) cb();
  }

  /** What this source holds now. */
  entries(): IterableIterator<[string, Secret]> {
    return this.#secrets.entries();
  }
}

const sources = new Map<string, XdsSecretSource>();

/** The isolate's source for config source key `key`. */
export function xdsSecretSource(key: string): XdsSecretSource {
  let s = sources.get(key);
  if (!s) sources.set(key, s = new XdsSecretSource());
  return s;
}

/** Applies secrets the main thread accepted (grouped by source: one rebuild per context). */
export function applySdsSecrets(updates: readonly SdsSecretUpdate[]): void {
  const bySource = new Map<string, SdsSecretUpdate[]>();
  for (const u of updates) {
    const list = bySource.get(u.source);
    if (list) list.push(u);
    else bySource.set(u.source, [u]);
  }
  for (const [key, list] of bySource) xdsSecretSource(key).set(list);
}
