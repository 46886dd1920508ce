/**
 * Values of Envoy API enums that modules every isolate loads compare with, as plain constants.
 * A generated module, evaluated, boots the descriptors of its file and of every file that file
 * imports: importing one for an enum's values cost each worker (and each hot restart epoch)
 * a large share of its start-up. Schemas, where a module needs one, come from the API registry
 * (`api.ts`), which decodes a file on first use. `api_enums_test.ts` checks every constant here
 * against the generated enum.
 *
 * @module
 */
import type { SocketOption_SocketState } from "../../proto/gen/envoy/config/core/v3/socket_option_pb.ts";
import type {
  ProxyProtocolConfig_Version,
  ProxyProtocolPassThroughTLVs_PassTLVsMatchType,
} from "../../proto/gen/envoy/config/core/v3/proxy_protocol_pb.ts";
import type {
  CertificateValidationContext_TrustChainVerification,
  SubjectAltNameMatcher_SanType,
  TlsParameters_TlsProtocol,
} from "../../proto/gen/envoy/extensions/transport_sockets/tls/v3/common_pb.ts";
import type { DownstreamTlsContext_OcspStaplePolicy } from "../../proto/gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.ts";
import type { Brotli_EncoderMode } from "../../proto/gen/envoy/extensions/compression/brotli/compressor/v3/brotli_pb.ts";

/** `envoy.config.core.v3.SocketOption.SocketState`. */
export const SocketState = {
  STATE_PREBIND: 0,
  STATE_BOUND: 1,
  STATE_LISTENING: 2,
} as const satisfies Record<string, SocketOption_SocketState>;

/** `envoy.config.core.v3.ProxyProtocolConfig.Version`. */
export const ProxyProtocolVersion = {
  V1: 0,
  V2: 1,
} as const satisfies Record<string, ProxyProtocolConfig_Version>;

/** `envoy.config.core.v3.ProxyProtocolPassThroughTLVs.PassTLVsMatchType`. */
export const PassTlvsMatchType = {
  INCLUDE_ALL: 0,
  INCLUDE: 1,
} as const satisfies Record<string, ProxyProtocolPassThroughTLVs_PassTLVsMatchType>;

/** `envoy.extensions.transport_sockets.tls.v3.TlsParameters.TlsProtocol`. */
export const TlsProtocol = {
  TLS_AUTO: 0,
  TLSv1_0: 1,
  TLSv1_1: 2,
  TLSv1_2: 3,
  TLSv1_3: 4,
} as const satisfies Record<string, TlsParameters_TlsProtocol>;

/** `envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher.SanType`. */
export const SanType = {
  SAN_TYPE_UNSPECIFIED: 0,
  EMAIL: 1,
  DNS: 2,
  URI: 3,
  IP_ADDRESS: 4,
  OTHER_NAME: 5,
} as const satisfies Record<string, SubjectAltNameMatcher_SanType>;

/** `envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext.TrustChainVerification`. */
export const TrustChainVerification = {
  VERIFY_TRUST_CHAIN: 0,
  ACCEPT_UNTRUSTED: 1,
} as const satisfies Record<string, CertificateValidationContext_TrustChainVerification>;

/** `envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext.OcspStaplePolicy`. */
export const OcspStaplePolicy = {
  LENIENT_STAPLING: 0,
  STRICT_STAPLING: 1,
  MUST_STAPLE: 2,
} as const satisfies Record<string, DownstreamTlsContext_OcspStaplePolicy>;

/** `envoy.extensions.compression.brotli.compressor.v3.Brotli.EncoderMode`. */
export const BrotliEncoderMode = {
  DEFAULT: 0,
  GENERIC: 1,
  TEXT: 2,
  FONT: 3,
} as const satisfies Record<string, Brotli_EncoderMode>;

/** The name of `value` in `values` (one of the enums above), or the number when it has none. */
export function enumName(values: Readonly<Record<string, number>>, value: number): string {
  for (const name in values) if (values[name] === value) return name;
  return String(value);
}
