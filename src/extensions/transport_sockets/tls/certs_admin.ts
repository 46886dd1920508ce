/**
 * What `/certs` lists and `server.days_until_first_cert_expiring` tracks: every TLS context of
 * the bootstrap (filter chains, clusters, transport_socket_matches), read as the workers read
 * them — static secrets resolved, SDS files read as they are now, secrets SDS over xDS
 * supplied (a context still waiting for one is listed without it) — in Envoy's
 * `admin.v3.Certificates` form: per context, the trusted CAs (`ca_cert`) and each certificate's
 * leaf (`cert_chain`) with path, serial, SANs, days until expiration and validity.
 *
 * @module
 */
import type { X509Certificate } from "node:crypto";
import type { JsonObject } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import type { Bootstrap } from "../../../../proto/gen/envoy/config/bootstrap/v3/bootstrap_pb.ts";
import type { TransportSocket } from "../../../../proto/gen/envoy/config/core/v3/base_pb.ts";
import type { Listener } from "../../../../proto/gen/envoy/config/listener/v3/listener_pb.ts";
import type { Cluster } from "../../../../proto/gen/envoy/config/cluster/v3/cluster_pb.ts";
import type {
  DownstreamTlsContext,
  UpstreamTlsContext,
} from "../../../../proto/gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.ts";
import { unpackAny } from "../../../config/any.ts";
import type { ExtensionRegistry } from "../../../config/extensions.ts";
import {
  parseSans,
  type Problems,
  readClientContext,
  readServerContext,
  type TlsContextSettings,
} from "./context_config.ts";
import { SecretManager } from "./secret_manager.ts";

const DAY_MS = 86_400_000;
const PKG = "envoy.extensions.transport_sockets.tls.v3";

/** One context's certificates, as `admin.v3.Certificate` JSON (proto field names). */
export interface CertificateListing {
  certificates: JsonObject[];
  /** Days until the first certificate (CA or own) expires; undefined without any. */
  daysUntilFirstExpiring?: number;
}

/**
 * Lists the certificates of every TLS context in `b` (and of the `dynamic` listeners and
 * clusters LDS and CDS brought) at time `nowMs`; secrets SDS over xDS supplied are those this
 * isolate holds.
 */
export function listCertificates(
  b: Bootstrap,
  extensions: ExtensionRegistry,
  nowMs = Date.now(),
  dynamic: { listeners: readonly Listener[]; clusters: readonly Cluster[] } = {
    listeners: [],
    clusters: [],
  },
): CertificateListing {
  const sockets: TransportSocket[] = [];
  for (const l of [...(b.staticResources?.listeners ?? []), ...dynamic.listeners]) {
    for (const c of [...l.filterChains, ...(l.defaultFilterChain ? [l.defaultFilterChain] : [])]) {
      if (c.transportSocket) sockets.push(c.transportSocket);
    }
  }
  for (const c of [...(b.staticResources?.clusters ?? []), ...dynamic.clusters]) {
    if (c.transportSocket) sockets.push(c.transportSocket);
    for (const m of c.transportSocketMatches) {
      if (m.transportSocket) sockets.push(m.transportSocket);
    }
  }
  const manager = new SecretManager(b.staticResources?.secrets ?? [], extensions);
  // Problems were reported when the config loaded; what cannot be read now is left out.
  const quiet: Problems = { report: () => {}, unsupported: () => {} };
  const out: JsonObject[] = [];
  let minDays: number | undefined;
  for (const ts of sockets) {
    if (ts.configType.case !== "typedConfig") continue;
    const settings = readTls(ts.configType.value, quiet, manager);
    if (!settings) continue;
    const ca = settings.validation?.trustedCas.map((c) =>
      details(c, settings.validation!.trustedCaPath, nowMs)
    ) ?? [];
    const chain = settings.certificates.map((c) =>
      details(c.leaf, c.chainPath, nowMs)
    );
    for (const d of [...ca, ...chain]) {
      const days = Number(d.days_until_expiration);
      minDays = minDays === undefined ? days : Math.min(minDays, days);
    }
    out.push({ ca_cert: ca, cert_chain: chain });
  }
  return { certificates: out, daysUntilFirstExpiring: minDays };
}

function readTls(any: Any, p: Problems, manager: SecretManager): TlsContextSettings | undefined {
  const msg = unpackAny(any);
  if (msg?.$typeName === `${PKG}.DownstreamTlsContext`) {
    return readServerContext(msg as DownstreamTlsContext, p, 0, manager.resolver());
  }
  if (msg?.$typeName === `${PKG}.UpstreamTlsContext`) {
    return readClientContext(msg as UpstreamTlsContext, p, manager.resolver());
  }
  return undefined;
}

/** Envoy's `admin.v3.CertificateDetails` of one certificate. */
function details(c: X509Certificate, path: string, nowMs: number): JsonObject {
  const validTo = Date.parse(c.validTo);
  const sans = parseSans(c.subjectAltName ?? "");
  return {
    path,
    serial_number: c.serialNumber.toLowerCase(),
    subject_alt_names: [
      ...sans.uri.map((uri) => ({ uri })),
      ...sans.dns.map((dns) => ({ dns })),
      ...sans.ip.map((ip_address) => ({ ip_address })),
    ],
    // An expired certificate has 0 days left, as in Envoy.
    days_until_expiration: String(Math.max(0, Math.floor((validTo - nowMs) / DAY_MS))),
    valid_from: new Date(Date.parse(c.validFrom)).toISOString(),
    expiration_time: new Date(validTo).toISOString(),
  };
}
