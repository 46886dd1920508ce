import { assertEquals } from "../testing/assert.ts";
import { HeaderMap } from "./header_map.ts";
import { mutateXfcc, type XfccConfig } from "./xfcc.ts";
import type { SslConnectionInfo } from "../network/transport_socket.ts";

const mtls: SslConnectionInfo = {
  serverName: "",
  alpn: "",
  sessionReused: false,
  peerCertificatePresented: true,
  peerCertificateValidated: true,
  peerFingerprint256: "abcd",
  peerCertificatePem: "-----BEGIN CERTIFICATE-----\nMII=\n-----END CERTIFICATE-----\n",
  peerChainPem: "chain",
  peerSubject: "O=denvoy,CN=client",
  peerSans: { uri: ["spiffe://a/b"], dns: ["a.example", "b.example"] },
  localSans: { uri: ["spiffe://proxy"] },
};
const tlsNoCert: SslConnectionInfo = {
  serverName: "",
  alpn: "",
  sessionReused: false,
  peerCertificatePresented: false,
  peerCertificateValidated: false,
};
const cfg = (mode: XfccConfig["mode"], details: Partial<XfccConfig> = {}): XfccConfig => ({
  mode,
  subject: false,
  cert: false,
  chain: false,
  dns: false,
  uri: false,
  ...details,
});
const run = (ssl: SslConnectionInfo | undefined, c: XfccConfig, incoming?: string) => {
  const h = new HeaderMap(incoming ? ["x-forwarded-client-cert", incoming] : []);
  mutateXfcc(h, ssl, c);
  return h.get("x-forwarded-client-cert");
};

Deno.test("xfcc: SANITIZE (the default) removes it; without mTLS every mode but ALWAYS_FORWARD_ONLY removes it", () => {
  assertEquals(run(mtls, cfg("sanitize"), "By=x"), undefined);
  for (const mode of ["forward_only", "append_forward", "sanitize_set"] as const) {
    assertEquals(run(undefined, cfg(mode), "By=x"), undefined);
    assertEquals(run(tlsNoCert, cfg(mode), "By=x"), undefined);
  }
  assertEquals(run(undefined, cfg("always_forward_only"), "By=x"), "By=x");
});

Deno.test("xfcc: FORWARD_ONLY keeps the incoming value on mTLS; APPEND_FORWARD appends this hop; SANITIZE_SET replaces it", () => {
  assertEquals(run(mtls, cfg("forward_only"), "By=x"), "By=x");
  assertEquals(
    run(mtls, cfg("append_forward"), "By=x"),
    "By=x,By=spiffe://proxy;Hash=abcd",
  );
  assertEquals(run(mtls, cfg("sanitize_set"), "By=x"), "By=spiffe://proxy;Hash=abcd");
  assertEquals(run(mtls, cfg("append_forward")), "By=spiffe://proxy;Hash=abcd");
});

Deno.test("xfcc: set_current_client_cert_details adds Cert, Chain, Subject, URI and DNS in Envoy's order", () => {
  const all = cfg("sanitize_set", { cert: true, chain: true, subject: true, uri: true, dns: true });
  assertEquals(
    run(mtls, all),
    'By=spiffe://proxy;Hash=abcd;Cert="-----BEGIN%20CERTIFICATE-----%0AMII%3D%0A-----END%20CERTIFICATE-----%0A";Chain="chain";Subject="O=denvoy,CN=client";URI=spiffe://a/b;DNS=a.example;DNS=b.example',
  );
  // URI= appears even when the certificate has no URI SAN.
  const noUri = { ...mtls, peerSans: {} };
  assertEquals(run(noUri, cfg("sanitize_set", { uri: true })), "By=spiffe://proxy;Hash=abcd;URI=");
});
