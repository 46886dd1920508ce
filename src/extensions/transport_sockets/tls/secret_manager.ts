/**
 * The secret manager: where TLS contexts find the secrets their `*_sds_secret_config(s)` name.
 * A config without `sds_config` names a `static_resources.secrets` entry; one with a
 * `path_config_source` (or the older `path`) names a Secret in a file of resources
 * (a DiscoveryResponse, as Envoy's filesystem subscriptions read), which is watched: when the
 * file, the certificate files its secrets name, or (`watched_directory`) that directory
 * (Envoy's atomic symlink swap) change,
 * it is read again and the contexts that use its secrets rebuild theirs for new handshakes;
 * open connections keep theirs. A change that does not load keeps the previous secrets, is
 * logged and counted (`sds.<name>.update_rejected`).
 *
 * SDS over xDS (`ads`, a gRPC `api_config_source`) is another {@linkcode SecretSource}
 * (sds_registry.ts), fed by the main thread; a secret it has not supplied yet is not ready:
 * the context waits for it rather than failing (`SecretResolver.pending`).
 *
 * Files are polled (a stat every 500 ms on an unreferenced timer) rather than watched with
 * `Deno.watchFs`, whose watcher would keep an isolate alive and sees a symlink swap only as
 * events on the directory.
 *
 * @module
 */
import { getLogger } from "../../../common/logger.ts";
import { reportBug } from "../../../common/error_boundary.ts";
import type { Secret } from "../../../../proto/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.ts";
import type { SdsSecretConfig } from "../../../../proto/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.ts";
import type {
  CertificateValidationContext,
  TlsCertificate,
} from "../../../../proto/gen/envoy/extensions/transport_sockets/tls/v3/common_pb.ts";
import type { ExtensionRegistry } from "../../../config/extensions.ts";
import { loadResourceFile } from "../../../config/bootstrap.ts";
import { formatIssue } from "../../../config/errors.ts";
import { unpackAny } from "../../../config/any.ts";
import type { Scope } from "../../../stats/store.ts";
import { type Problems, type SecretLookup, secretProblems } from "./context_config.ts";
import {
  isXdsSecretSource,
  sdsSourceKey,
  XdsSecretSource,
  xdsSecretSource,
} from "./sds_registry.ts";
import { configSourceProblems } from "../../../xds/config_source.ts";
import { SDS } from "../../../xds/resource_types.ts";

const log = getLogger("secret");
const POLL_MS = 500;
const SECRET = "envoy.extensions.transport_sockets.tls.v3.Secret";

/** Named secrets that may change. */
export interface SecretSource {
  get(name: string): Secret | undefined;
  /** Calls `cb` after the source's secrets changed; returns the unsubscribe function. */
  subscribe(cb: () => void): () => void;
}

/** Secrets read from a file of resources, read again when it changes. */
class FileSecretSource implements SecretSource {
  #secrets = new Map<string, Secret>();
  readonly #subscribers = new Set<() => void>();
  #stamp = "";
  /** The file, the watched directory and the files its secrets name (all are watched). */
  #files: string[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    readonly path: string,
    readonly watchedDirectory: string | undefined,
    readonly extensions: ExtensionRegistry,
    readonly stats: Scope | undefined,
  ) {}

  /** Loads the file; the problems are the file's issues. */
  load(): string[] {
    const result = loadResourceFile(this.path, this.extensions);
    if (result.issues.length > 0) return result.issues.map(formatIssue);
    const secrets = new Map<string, Secret>();
    const problems: string[] = [];
    for (const any of result.response?.resources ?? []) {
      const s = unpackAny<Secret>(any);
      if (s?.$typeName !== SECRET) continue;
      // A certificate that does not load is refused here, so every context keeps the old one.
      problems.push(...secretProblems(s));
      secrets.set(s.name, s);
    }
    if (problems.length > 0) return problems;
    this.#secrets = secrets;
    this.#files = [this.path, this.watchedDirectory, ...[...secrets.values()].flatMap(filesOf)]
      .filter((f): f is string => f !== undefined);
    this.#stamp = this.#currentStamp();
    return [];
  }

  get(name: string): Secret | undefined {
    return this.#secrets.get(name);
  }

  subscribe(cb: () => void): () => void {
    this.#subscribers.add(cb);
    if (this.#timer === undefined) {
      const timer = setInterval(() => this.#poll(), POLL_MS);
      Deno.unrefTimer(timer as unknown as number);
      this.#timer = timer;
    }
    return () => {
      this.#subscribers.delete(cb);
      if (this.#subscribers.size === 0 && this.#timer !== undefined) {
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
    };
  }

  /** What changes when the file (or the directory it is swapped in) changes. */
  #currentStamp(): string {
    const parts: string[] = [];
    for (const p of this.#files) {
      try {
        const st = Deno.statSync(p);
        parts.push(`${st.ino}:${st.size}:${st.mtime?.getTime()}`);
        // A symlink swap changes what the link points at, not the file it resolves to now.
        const link = Deno.lstatSync(p);
        if (link.isSymlink) parts.push(Deno.readLinkSync(p));
      } catch {
        parts.push("missing");
      }
    }
    return parts.join("|");
  }

  #poll(): void {
    try {
      this.#reload();
    } catch (e) {
      reportBug(`SDS file '${this.path}' reload`, e);
    }
  }

  #reload(): void {
    const stamp = this.#currentStamp();
    if (stamp === this.#stamp) return;
    this.#stamp = stamp;
    const before = this.#secrets;
    const problems = this.load();
    const names = new Set([...before.keys(), ...this.#secrets.keys()]);
    for (const name of names) this.stats?.counter(`sds.${name}.update_attempt`).inc();
    if (problems.length > 0) {
      this.#stamp = stamp;
      for (const name of names) this.stats?.counter(`sds.${name}.update_rejected`).inc();
      log.warn(`SDS file '${this.path}' rejected, keeping the previous secrets: ${problems[0]}`);
      return;
    }
    for (const name of names) this.stats?.counter(`sds.${name}.update_success`).inc();
    for (const cb of [...this.#subscribers]) cb();
  }
}

/** The files a secret's data sources name (a new certificate in place reloads it too). */
function filesOf(s: Secret): (string | undefined)[] {
  const file = (ds: { specifier: { case: string | undefined; value?: unknown } } | undefined) =>
    ds?.specifier.case === "filename" ? ds.specifier.value as string : undefined;
  if (s.type.case === "tlsCertificate") {
    return [file(s.type.value.certificateChain), file(s.type.value.privateKey)];
  }
  if (s.type.case === "validationContext") {
    return [file(s.type.value.trustedCa), file(s.type.value.crl)];
  }
  return [];
}

/** Static secrets: they never change. */
class StaticSecretSource implements SecretSource {
  readonly #secrets: Map<string, Secret>;
  constructor(secrets: readonly Secret[]) {
    this.#secrets = new Map(secrets.map((s) => [s.name, s]));
  }
  get(name: string): Secret | undefined {
    return this.#secrets.get(name);
  }
  subscribe(): () => void {
    return () => {};
  }
}

/** Resolves a TLS context's secret references; records which sources it used. */
export class SecretManager {
  readonly #static: StaticSecretSource;
  readonly #files = new Map<string, FileSecretSource>();

  constructor(
    staticSecrets: readonly Secret[],
    readonly extensions: ExtensionRegistry,
    readonly stats?: Scope,
  ) {
    this.#static = new StaticSecretSource(staticSecrets);
  }

  /** A resolver for one context: it records the sources the context's secrets came from. */
  resolver(): SecretResolver {
    return new SecretResolver(this);
  }

  /** The source an SdsSecretConfig names; undefined (reported) when it cannot be read. */
  source(sds: SdsSecretConfig, field: string, p: Problems): SecretSource | undefined {
    const cs = sds.sdsConfig;
    if (!cs) return this.#static;
    if (isXdsSecretSource(cs)) {
      const problems = configSourceProblems(cs, SDS);
      for (const pr of problems) {
        const at = `${field}.sds_config${pr.field ? "." + pr.field : ""}`;
        if (pr.unsupported) p.unsupported(pr.message, at);
        else p.report(pr.message, at);
      }
      return problems.length > 0 ? undefined : xdsSecretSource(sdsSourceKey(cs));
    }
    const spec = cs.configSourceSpecifier;
    let path: string;
    let watched: string | undefined;
    if (spec.case === "path") path = spec.value;
    else if (spec.case === "pathConfigSource") {
      path = spec.value.path;
      watched = spec.value.watchedDirectory?.path;
    } else {
      p.unsupported(
        `SDS over ${spec.case ?? "an empty config source"} (only static secrets and files)`,
        `${field}.sds_config`,
      );
      return undefined;
    }
    let src = this.#files.get(path);
    if (!src) {
      src = new FileSecretSource(path, watched, this.extensions, this.stats);
      const problems = src.load();
      if (problems.length > 0) {
        p.report(`cannot load SDS file '${path}': ${problems.join("; ")}`, `${field}.sds_config`);
        return undefined;
      }
      this.#files.set(path, src);
    }
    return src;
  }
}

/** Looks secrets up for one TLS context. */
export class SecretResolver implements SecretLookup {
  /** The sources looked at, to subscribe to for updates. */
  readonly used = new Set<SecretSource>();
  /** A secret SDS over xDS has not supplied yet was named: the context is not ready. */
  pending = false;
  constructor(readonly manager: SecretManager) {}

  isPending(sds: SdsSecretConfig): boolean {
    return isXdsSecretSource(sds.sdsConfig) &&
      xdsSecretSource(sdsSourceKey(sds.sdsConfig!)).get(sds.name) === undefined;
  }

  #secret(sds: SdsSecretConfig, field: string, p: Problems): Secret | undefined {
    const src = this.manager.source(sds, field, p);
    if (!src) return undefined;
    this.used.add(src);
    const s = src.get(sds.name);
    if (!s && src instanceof XdsSecretSource) {
      // Not supplied yet (or the initial fetch ended without it): not ready, not an error.
      this.pending = true;
      return undefined;
    }
    if (!s) {
      // Envoy's own message for a missing static secret.
      p.report(
        sds.sdsConfig
          ? `secret '${sds.name}' is not in the SDS file`
          : `Unknown static secret: ${sds.name}`,
        `${field}.name`,
      );
    }
    return s;
  }

  /** The TlsCertificate secret `sds` names. */
  tlsCertificate(sds: SdsSecretConfig, field: string, p: Problems): TlsCertificate | undefined {
    const s = this.#secret(sds, field, p);
    if (s && s.type.case !== "tlsCertificate") {
      p.report(`secret '${sds.name}' is not a tls_certificate`, `${field}.name`);
      return undefined;
    }
    return s?.type.value as TlsCertificate | undefined;
  }

  /** The CertificateValidationContext secret `sds` names. */
  validationContext(
    sds: SdsSecretConfig,
    field: string,
    p: Problems,
  ): CertificateValidationContext | undefined {
    const s = this.#secret(sds, field, p);
    if (s && s.type.case !== "validationContext") {
      p.report(`secret '${sds.name}' is not a validation_context`, `${field}.name`);
      return undefined;
    }
    return s?.type.value as CertificateValidationContext | undefined;
  }
}

const managers = new WeakMap<object, SecretManager>();

/** The secret manager of an isolate's server context (one per context object). */
export function secretManagerOf(
  owner: object,
  make: () => SecretManager,
): SecretManager {
  let m = managers.get(owner);
  if (!m) managers.set(owner, m = make());
  return m;
}
