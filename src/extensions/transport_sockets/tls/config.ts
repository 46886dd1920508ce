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
import type { ExtensionFactory } from "../../../config/extensions.ts";
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
      [`${PKG}.CommonTlsContext`]: ["tls_params", "tls_certificates", "alpn_protocols"],
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
      ],
      [`${PKG}.CommonTlsContext.CombinedCertificateValidationContext`]: [
        "default_validation_context",
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
      [`${PKG}.CommonTlsContext`]: ["validation_context", "combined_validation_context"],
      [`${PKG}.TlsCertificate`]: ["ocsp_staple"],
      [`${PKG}.CertificateValidationContext`]: ["crl"],
      [`${PKG}.CommonTlsContext.CombinedCertificateValidationContext`]: [
        "validation_context_sds_secret_config",
      ],
    },
  },
  validate(config: Message, ctx) {
    const p: Problems = { report: ctx.report, unsupported: ctx.unsupported };
    if (config.$typeName === DOWNSTREAM) readServerContext(config as DownstreamTlsContext, p);
    else readClientContext(config as UpstreamTlsContext, p);
  },
  createDownstreamTransportSocket(config, _server, opts) {
    const c = config && unpackAny<DownstreamTlsContext>(config);
    if (!c || c.$typeName !== DOWNSTREAM) {
      throw new Error(
        `${opts.where}: the TLS transport socket of a filter chain takes a ${DOWNSTREAM}`,
      );
    }
    return new ServerTlsFactory(
      readServerContext(c, throwingProblems(opts.where), opts.handshakeTimeoutMs),
    );
  },
  createUpstreamTransportSocket(config, where) {
    const c = config && unpackAny<UpstreamTlsContext>(config);
    if (!c || c.$typeName !== UPSTREAM) {
      throw new Error(`${where}: the TLS transport socket of a cluster takes a ${UPSTREAM}`);
    }
    return new ClientTlsFactory(readClientContext(c, throwingProblems(where)));
  },
};
