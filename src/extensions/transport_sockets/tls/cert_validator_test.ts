import { createHash, X509Certificate } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { assertEquals } from "../../../testing/assert.ts";
import { StringMatcherSchema } from "../../../../proto/gen/envoy/type/matcher/v3/string_pb.ts";
import { testCerts } from "../../../../tests/tls_certs.ts";
import { CertValidator, dnsWildcardMatch } from "./cert_validator.ts";
import { parseCrls } from "./crl.ts";
import {
  parseCertificates,
  type SanMatcherSettings,
  type ValidationSettings,
} from "./context_config.ts";

const read = (p: string) => new X509Certificate(Deno.readTextFileSync(p));

async function settings(v: Partial<ValidationSettings> = {}): Promise<ValidationSettings> {
  const c = await testCerts();
  return {
    trustedCas: parseCertificates(Deno.readTextFileSync(c.caCert)),
    trustedCaPath: c.caCert,
    trustedCaPem: "",
    sanMatchers: [],
    certHashes: [],
    spkiHashes: [],
    allowExpired: false,
    acceptUntrusted: false,
    crls: [],
    onlyLeafCrl: false,
    ...v,
  };
}

const san = (type: SanMatcherSettings["type"], m: Record<string, unknown>): SanMatcherSettings => ({
  type,
  matcher: create(StringMatcherSchema, { matchPattern: m } as never),
});

Deno.test("CertValidator: the chain must reach a trusted CA through the intermediates the peer sent; expiry fails unless allowed; ACCEPT_UNTRUSTED skips the chain", async () => {
  const c = await testCerts();
  const now = Date.now();
  const v = new CertValidator(await settings());
  assertEquals(v.verify([read(c.clientCert)], now), undefined);
  assertEquals(v.verify([read(c.otherCaClientCert)], now), "fail_verify_error");
  assertEquals(v.verify([read(c.expiredCert)], now + 2000), "fail_verify_error");
  // The server certificate is issued by the intermediate: trusted only with it.
  const chain = parseCertificates(Deno.readTextFileSync(c.serverChain));
  assertEquals(v.verify([chain[0]], now), "fail_verify_error");
  assertEquals(v.verify(chain, now), undefined);
  const lenient = new CertValidator(await settings({ allowExpired: true }));
  assertEquals(lenient.verify([read(c.expiredCert)], now + 2000), undefined);
  const untrusted = new CertValidator(await settings({ acceptUntrusted: true }));
  assertEquals(untrusted.verify([read(c.otherCaClientCert)], now), undefined);
});

Deno.test("CertValidator: typed SAN matchers by kind (URI, DNS with wildcard SANs, IP), any string matcher", async () => {
  const c = await testCerts();
  const now = Date.now();
  const client = read(c.clientCert);
  const server = parseCertificates(Deno.readTextFileSync(c.serverChain));
  const check = async (m: SanMatcherSettings, chain: X509Certificate[]) =>
    new CertValidator(await settings({ sanMatchers: [m] })).verify(chain, now);
  assertEquals(
    await check(san("URI", { case: "prefix", value: "spiffe://cluster.local/" }), [client]),
    undefined,
  );
  assertEquals(
    await check(san("DNS", { case: "prefix", value: "spiffe" }), [client]),
    "fail_verify_san",
  );
  assertEquals(
    await check(san("DNS", { case: "exact", value: "foo.example.com" }), server),
    undefined,
  );
  assertEquals(
    await check(san("DNS", { case: "exact", value: "a.b.example.com" }), server),
    "fail_verify_san",
  );
  assertEquals(
    await check(san("IP_ADDRESS", { case: "exact", value: "127.0.0.1" }), server),
    undefined,
  );
  assertEquals(
    await check(san("URI", { case: "suffix", value: "/sa/client" }), [client]),
    undefined,
  );
  assertEquals(
    await check(san("URI", { case: "contains", value: "default" }), [client]),
    undefined,
  );
  assertEquals(
    await check(san("URI", { case: "safeRegex", value: { regex: "spiffe://.*/sa/c.*" } }), [
      client,
    ]),
    undefined,
  );
});

Deno.test("CertValidator: verify_certificate_hash and verify_certificate_spki accept either match", async () => {
  const c = await testCerts();
  const client = read(c.clientCert);
  const hash = createHash("sha256").update(client.raw).digest("hex");
  const spki = createHash("sha256").update(client.publicKey.export({ type: "spki", format: "der" }))
    .digest("base64");
  const now = Date.now();
  const by = async (v: Partial<ValidationSettings>) =>
    new CertValidator(await settings(v)).verify([client], now);
  assertEquals(await by({ certHashes: [hash] }), undefined);
  assertEquals(await by({ certHashes: ["00".repeat(32)] }), "fail_verify_cert_hash");
  assertEquals(await by({ certHashes: ["00".repeat(32)], spkiHashes: [spki] }), undefined);
});

Deno.test("dnsWildcardMatch: one label only", () => {
  assertEquals(dnsWildcardMatch("*.example.com", "a.example.com"), true);
  assertEquals(dnsWildcardMatch("*.example.com", "a.b.example.com"), false);
  assertEquals(dnsWildcardMatch("*.example.com", "example.com"), false);
  assertEquals(dnsWildcardMatch("a.example.com", "a.example.com"), false);
});

Deno.test("CertValidator: with a CRL, a revoked certificate fails; every certificate below the anchor needs its issuer's CRL unless only_verify_leaf_cert_crl", async () => {
  const c = await testCerts();
  const now = Date.now();
  const crls = parseCrls(Deno.readTextFileSync(c.crl));
  assertEquals(crls.length, 1);
  const v = new CertValidator(await settings({ crls }));
  assertEquals(v.verify([read(c.clientCert)], now), undefined);
  assertEquals(v.verify([read(c.revokedCert)], now), "fail_verify_error");
  // The server's intermediate has no CRL of its own: refused, unless only the leaf is checked
  // (and then the leaf, issued by the intermediate, has no CRL either).
  const chain = parseCertificates(Deno.readTextFileSync(c.serverChain));
  assertEquals(v.verify(chain, now), "fail_verify_error");
  const leafOnly = new CertValidator(await settings({ crls, onlyLeafCrl: true }));
  assertEquals(leafOnly.verify([read(c.clientCert)], now), undefined);
  assertEquals(leafOnly.verify(chain, now), "fail_verify_error");
  // Past its nextUpdate the CRL no longer vouches for anything.
  const lenient = new CertValidator(await settings({ crls, allowExpired: true }));
  assertEquals(lenient.verify([read(c.clientCert)], now), undefined);
  assertEquals(lenient.verify([read(c.clientCert)], now + 40 * 86_400_000), "fail_verify_error");
});
