import { assertEquals } from "../testing/assert.ts";
import { StreamInfo, type TlsConnectionInfo } from "../stream_info/stream_info.ts";
import { createProvider } from "./commands.ts";

const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

const TLS: TlsConnectionInfo = {
  tlsVersion: "TLSv1.3",
  cipherSuite: "TLS_AES_128_GCM_SHA256",
  sessionId: "",
  localSubject: "CN=proxy",
  peerSubject: "CN=client,O=Example",
  peerIssuer: "CN=ca",
  peerSerial: "0a1b",
  peerFingerprint256: "ab".repeat(32),
  peerFingerprint1: "cd".repeat(20),
  peerChainFingerprints256: ["11", "22"],
  peerChainSerials: ["0a1b", "0c"],
  peerCertificatePem: PEM,
  peerValidFrom: Date.UTC(2024, 0, 2, 3, 4, 5),
  peerExpiration: Date.UTC(2025, 0, 2, 3, 4, 5),
  peerSans: { uri: ["spiffe://a", "spiffe://b"], dns: ["client.example"], ip: ["10.0.0.1"] },
  localSans: { dns: ["proxy.example"], email: ["ops@example.com"] },
};

function render(name: string, si: StreamInfo, arg = "") {
  return createProvider({ name, arg }).text({ streamInfo: si });
}

const CASES: [string, string | undefined][] = [
  ["DOWNSTREAM_TLS_VERSION", "TLSv1.3"],
  ["DOWNSTREAM_TLS_CIPHER", "TLS_AES_128_GCM_SHA256"],
  // An empty value counts as unset.
  ["DOWNSTREAM_TLS_SESSION_ID", undefined],
  ["DOWNSTREAM_LOCAL_SUBJECT", "CN=proxy"],
  ["DOWNSTREAM_PEER_SUBJECT", "CN=client,O=Example"],
  ["DOWNSTREAM_PEER_ISSUER", "CN=ca"],
  ["DOWNSTREAM_PEER_SERIAL", "0a1b"],
  ["DOWNSTREAM_PEER_FINGERPRINT_256", "ab".repeat(32)],
  ["DOWNSTREAM_PEER_FINGERPRINT_1", "cd".repeat(20)],
  ["DOWNSTREAM_PEER_CHAIN_FINGERPRINTS_256", "11,22"],
  ["DOWNSTREAM_PEER_CHAIN_FINGERPRINTS_1", undefined],
  ["DOWNSTREAM_PEER_CHAIN_SERIALS", "0a1b,0c"],
  ["DOWNSTREAM_PEER_CERT", encodeURIComponent(PEM)],
  ["DOWNSTREAM_PEER_CERT_V_START", "2024-01-02T03:04:05.000Z"],
  ["DOWNSTREAM_PEER_CERT_V_END", "2025-01-02T03:04:05.000Z"],
  ["DOWNSTREAM_PEER_URI_SAN", "spiffe://a,spiffe://b"],
  ["DOWNSTREAM_PEER_DNS_SAN", "client.example"],
  ["DOWNSTREAM_PEER_IP_SAN", "10.0.0.1"],
  ["DOWNSTREAM_PEER_EMAIL_SAN", undefined],
  ["DOWNSTREAM_PEER_OTHERNAME_SAN", undefined],
  ["DOWNSTREAM_LOCAL_DNS_SAN", "proxy.example"],
  ["DOWNSTREAM_LOCAL_EMAIL_SAN", "ops@example.com"],
  ["DOWNSTREAM_LOCAL_URI_SAN", undefined],
  ["DOWNSTREAM_LOCAL_IP_SAN", undefined],
  ["DOWNSTREAM_LOCAL_OTHERNAME_SAN", undefined],
  ["UPSTREAM_TLS_VERSION", "TLSv1.3"],
  ["UPSTREAM_TLS_CIPHER", "TLS_AES_128_GCM_SHA256"],
  ["UPSTREAM_TLS_SESSION_ID", undefined],
  ["UPSTREAM_PEER_SUBJECT", "CN=client,O=Example"],
  ["UPSTREAM_PEER_ISSUER", "CN=ca"],
  ["UPSTREAM_PEER_CERT", encodeURIComponent(PEM)],
  ["UPSTREAM_PEER_CERT_V_START", "2024-01-02T03:04:05.000Z"],
  ["UPSTREAM_PEER_CERT_V_END", "2025-01-02T03:04:05.000Z"],
  ["UPSTREAM_PEER_URI_SAN", "spiffe://a,spiffe://b"],
  ["UPSTREAM_PEER_DNS_SAN", "client.example"],
  ["UPSTREAM_PEER_IP_SAN", "10.0.0.1"],
  ["UPSTREAM_LOCAL_DNS_SAN", "proxy.example"],
  ["UPSTREAM_LOCAL_URI_SAN", undefined],
  ["UPSTREAM_LOCAL_IP_SAN", undefined],
];

for (const [name, expected] of CASES) {
  Deno.test(`%${name}% reads the TLS connection, "-" on plain TCP`, () => {
    const si = Object.assign(new StreamInfo(), { downstreamTls: TLS, upstreamTls: TLS });
    assertEquals(render(name, si), expected);
    assertEquals(render(name, new StreamInfo()), undefined);
  });
}

Deno.test("JA3/JA4 fingerprints are connection facts: there without TLS termination too", () => {
  const si = Object.assign(new StreamInfo(), {
    ja3Hash: "e7d705a3286e19ea42f587b344ee6865",
    ja4Hash: "t13d1516h2_8daaf6152771_02713d6af862",
  });
  assertEquals(render("TLS_JA3_FINGERPRINT", si), "e7d705a3286e19ea42f587b344ee6865");
  assertEquals(render("TLS_JA4_FINGERPRINT", si), "t13d1516h2_8daaf6152771_02713d6af862");
  assertEquals(render("TLS_JA3_FINGERPRINT", new StreamInfo()), undefined);
});

Deno.test("certificate validity takes a START_TIME format", () => {
  const si = Object.assign(new StreamInfo(), { downstreamTls: TLS });
  assertEquals(render("DOWNSTREAM_PEER_CERT_V_END", si, "%Y-%m-%d"), "2025-01-02");
});

Deno.test("upstream certificates have no email or othername SAN operators, as in Envoy", () => {
  let message = "";
  try {
    createProvider({ name: "UPSTREAM_PEER_EMAIL_SAN", arg: "" });
  } catch (e) {
    message = (e as Error).message;
  }
  assertEquals(message, "Not supported field in StreamInfo: UPSTREAM_PEER_EMAIL_SAN");
});
