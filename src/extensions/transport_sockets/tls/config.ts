/**
 * The TLS transport socket (`envoy.transport_sockets.tls`): `DownstreamTlsContext` on filter
 * chains, `UpstreamTlsContext` on clusters. Runs on Deno's `node:tls` (rustls underneath); what
 * rustls cannot do is refused at validate (see context_config.ts).
 *
 * @module
 */
import type { Message } from "@bufbuild/protobuf";
import type {
  DownstreamTlsContext,
  UpstreamTlsContext,
} from "../../../../proto/gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.ts";
import { unpackAny } from "../../../config/any.ts";
import type { ExtensionFactory, TransportSocketContext } from "../../../config/extensions.ts";
import {
  SecretManager,
  secretManagerOf,
  type SecretResolver,
  type SecretSource,
} from "./secret_manager.ts";
import {
  type Problems,
  readClientContext,
  readServerContext,
  throwingProblems,
} from "./context_config.ts";
import { ServerTlsFactory } from "./server_context.ts";
import { ClientTlsFactory } from "./client_context.ts";

const PKG = "envoy.extensions.transport_sockets.tls.v3";
const DOWNSTREAM = `${PKG}.DownstreamTlsContext`;
const UPSTREAM = `${PKG}.UpstreamTlsContext`;

/** Factory for the TLS transport socket, both directions. */
export const tlsTransportSocketFactory: ExtensionFactory = {
  name: "envoy.transport_sockets.tls",
  aliases: ["tls"],
  category: "envoy.transport_sockets.downstream",
  configTypes: [DOWNSTREAM, UPSTREAM],
  fields: {
    implemented: {
      [DOWNSTREAM]: [
        "common_tls_context",
        "require_client_certificate",
        "require_sni",
        "full_scan_certs_on_sni_mismatch",
      ],
      [UPSTREAM]: ["common_tls_context", "sni", "max_session_keys"],
      [`${PKG}.CommonTlsContext`]: [
        "tls_params",
        "tls_certificates",
        "tls_certificate_sds_secret_configs",
        "alpn_protocols",
      ],
      // static_resources.secrets and SDS files (secret_manager.ts).
      [`${PKG}.Secret`]: ["name", "tls_certificate", "validation_context"],
      [`${PKG}.SdsSecretConfig`]: ["name", "sds_config"],
      "envoy.config.core.v3.ConfigSource": ["path", "path_config_source", "resource_api_version"],
      "envoy.config.core.v3.PathConfigSource": ["path", "watched_directory"],
      "envoy.config.core.v3.WatchedDirectory": ["path"],
      [`${PKG}.TlsParameters`]: [
        "tls_minimum_protocol_version",
        "tls_maximum_protocol_version",
        "cipher_suites",
        "ecdh_curves",
      ],
      [`${PKG}.TlsCertificate`]: ["certificate_chain", "private_key"],
      [`${PKG}.CertificateValidationContext`]: [
        "trusted_ca",
        "match_typed_subject_alt_names",
        "match_subject_alt_names",
        "verify_certificate_hash",
        "verify_certificate_spki",
        "allow_expired_certificate",
        "trust_chain_verification",
        "crl",
        "only_verify_leaf_cert_crl",
      ],
      [`${PKG}.CommonTlsContext.CombinedCertificateValidationContext`]: [
        "default_validation_context",
        "validation_context_sds_secret_config",
      ],
      [`${PKG}.SubjectAltNameMatcher`]: ["san_type", "matcher"],
      "envoy.config.core.v3.DataSource": [
        "filename",
        "inline_string",
        "inline_bytes",
        "environment_variable",
      ],
    },
    // Read only to refuse what rustls cannot do, with a message of their own.
    checked: {
      [DOWNSTREAM]: [
        "session_ticket_keys",
        "session_ticket_keys_sds_secret_config",
        "disable_stateless_session_resumption",
        "disable_stateful_session_resumption",
        "session_timeout",
        "ocsp_staple_policy",
      ],
      [UPSTREAM]: ["allow_renegotiation"],
      [`${PKG}.CommonTlsContext`]: [
        "validation_context",
        "validation_context_sds_secret_config",
        "combined_validation_context",
      ],
      [`${PKG}.TlsCertificate`]: ["ocsp_staple"],
    },
  },
  validate(config: Message, ctx) {
    const p: Problems = { report: ctx.report, unsupported: ctx.unsupported };
    // Files are read (as Envoy's init would fetch them) but not watched.
    const secrets = new SecretManager(ctx.secrets ?? [], ctx.extensions).resolver();
    if (config.$typeName === DOWNSTREAM) {
      readServerContext(config as DownstreamTlsContext, p, 0, secrets);
    } else readClientContext(config as UpstreamTlsContext, p, secrets);
  },
  createDownstreamTransportSocket(config, ctx, opts) {
    const c = config && unpackAny<DownstreamTlsContext>(config);
    if (!c || c.$typeName !== DOWNSTREAM) {
      throw new Error(
        `${opts.where}: the TLS transport socket of a filter chain takes a ${DOWNSTREAM}`,
      );
    }
    const manager = managerOf(ctx);
    const read = (resolver: SecretResolver) =>
      readServerContext(c, throwingProblems(opts.where), opts.handshakeTimeoutMs, resolver);
    const first = manager.resolver();
    const factory = new ServerTlsFactory(read(first));
    for (const src of first.used) rebuildOnChange(src, factory, () => read(manager.resolver()));
    return factory;
  },
  createUpstreamTransportSocket(config, where, ctx) {
    const c = config && unpackAny<UpstreamTlsContext>(config);
    if (!c || c.$typeName !== UPSTREAM) {
      throw new Error(`${where}: the TLS transport socket of a cluster takes a ${UPSTREAM}`);
    }
    const manager = managerOf(ctx);
    const read = (resolver: SecretResolver) =>
      readClientContext(c, throwingProblems(where), resolver);
    const first = manager.resolver();
    const factory = new ClientTlsFactory(read(first));
    for (const src of first.used) rebuildOnChange(src, factory, () => read(manager.resolver()));
    return factory;
  },
};

/**
 * Rebuilds `factory` when `src` changes, holding it weakly: a replaced listener or cluster's
 * contexts are collected with it (SDS over xDS sees a listener update after another), and the
 * subscription goes at the next change after that.
 */
function rebuildOnChange<S>(
  src: SecretSource,
  factory: { rebuild(read: () => S): void },
  read: () => S,
): void {
  const ref = new WeakRef(factory);
  const unsubscribe = src.subscribe(() => {
    const f = ref.deref();
    if (f) f.rebuild(read);
    else unsubscribe();
  });
}

/** The isolate's secret manager, made with its context's static secrets. */
function managerOf(ctx: TransportSocketContext): SecretManager {
  return secretManagerOf(
    ctx,
    () => new SecretManager(ctx.secrets ?? [], ctx.extensions, ctx.stats),
  );
}
