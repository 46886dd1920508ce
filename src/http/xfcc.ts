/**
 * `x-forwarded-client-cert` (XFCC), as Envoy's connection manager sets it from
 * `forward_client_cert_details` and `set_current_client_cert_details`: removed unless the
 * downstream connection is mutual TLS (except ALWAYS_FORWARD_ONLY), kept as is (FORWARD_ONLY),
 * or extended (APPEND_FORWARD) / replaced (SANITIZE_SET) with this hop's element:
 * `By=<our URI SAN>;Hash=<peer cert SHA-256>;Cert="...";Chain="...";Subject="...";URI=...;DNS=...`.
 *
 * @module
 */
import type { HttpConnectionManager } from "../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.ts";
import type { SslConnectionInfo } from "../network/transport_socket.ts";
import type { HeaderMap } from "./header_map.ts";

/** The modes of `forward_client_cert_details`, by enum number. */
const MODES = [
  "sanitize",
  "forward_only",
  "append_forward",
  "sanitize_set",
  "always_forward_only",
] as const;

/** How an HCM treats XFCC. */
export interface XfccConfig {
  mode: typeof MODES[number];
  subject: boolean;
  cert: boolean;
  chain: boolean;
  dns: boolean;
  uri: boolean;
}

/** Reads the two HCM fields. */
export function xfccConfig(hcm: HttpConnectionManager): XfccConfig {
  const d = hcm.setCurrentClientCertDetails;
  return {
    mode: MODES[hcm.forwardClientCertDetails] ?? "sanitize",
    subject: d?.subject ?? false,
    cert: d?.cert ?? false,
    chain: d?.chain ?? false,
    dns: d?.dns ?? false,
    uri: d?.uri ?? false,
  };
}

const XFCC = "x-forwarded-client-cert";

/** Applies the XFCC rules to a request from a connection with TLS facts `ssl`. */
export function mutateXfcc(
  h: HeaderMap,
  ssl: SslConnectionInfo | undefined,
  cfg: XfccConfig,
): void {
  if (cfg.mode === "always_forward_only") return;
  if (cfg.mode === "sanitize" || !ssl?.peerCertificatePresented) {
    h.remove(XFCC);
    return;
  }
  if (cfg.mode === "forward_only") return;
  const parts: string[] = [];
  for (const uri of ssl.localSans?.uri ?? []) parts.push(`By=${uri}`);
  if (ssl.peerFingerprint256) parts.push(`Hash=${ssl.peerFingerprint256}`);
  if (cfg.cert && ssl.peerCertificatePem) {
    parts.push(`Cert="${encodeURIComponent(ssl.peerCertificatePem)}"`);
  }
  if (cfg.chain && ssl.peerChainPem) parts.push(`Chain="${encodeURIComponent(ssl.peerChainPem)}"`);
  // Subject and URI keys appear even when empty, as in Envoy.
  if (cfg.subject) parts.push(`Subject="${ssl.peerSubject ?? ""}"`);
  if (cfg.uri) {
    const uris = ssl.peerSans?.uri ?? [];
    if (uris.length === 0) parts.push("URI=");
    for (const uri of uris) parts.push(`URI=${uri}`);
  }
  if (cfg.dns) { for (const dns of ssl.peerSans?.dns ?? []) parts.push(`DNS=${dns}`); }
  const value = parts.join(";");
  if (cfg.mode === "append_forward") h.append(XFCC, value, ",");
  else h.set(XFCC, value);
}
