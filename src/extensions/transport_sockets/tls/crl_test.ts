import { X509Certificate } from "node:crypto";
import { assertEquals } from "../../../testing/assert.ts";
import { testCerts } from "../../../../tests/tls_certs.ts";
import { crlProblem, issuerDer, normalSerial, parseCrls } from "./crl.ts";

Deno.test("parseCrls: issuer, nextUpdate and revoked serials of an openssl CRL; crlProblem by issuer and signature", async () => {
  const c = await testCerts();
  const [crl] = parseCrls(Deno.readTextFileSync(c.crl));
  const ca = new X509Certificate(Deno.readTextFileSync(c.caCert));
  const other = new X509Certificate(Deno.readTextFileSync(c.otherCaCert));
  const revoked = new X509Certificate(Deno.readTextFileSync(c.revokedCert));
  const client = new X509Certificate(Deno.readTextFileSync(c.clientCert));
  assertEquals(crl.hash, "sha256");
  assertEquals([...crl.revoked], [normalSerial(revoked.serialNumber)]);
  assertEquals(crl.issuer, issuerDer(client));
  const now = Date.now();
  assertEquals(crlProblem([crl], client, ca, now), undefined);
  assertEquals(crlProblem([crl], revoked, ca, now), "revoked");
  // Signed by someone else's key: no CRL vouches for the certificate.
  assertEquals(crlProblem([crl], client, other, now), "no CRL");
  assertEquals(crlProblem([crl], client, ca, (crl.nextUpdateMs ?? 0) + 1), "expired CRL");
});

Deno.test("normalSerial: case and leading zeros do not matter", () => {
  assertEquals(normalSerial("00AB"), "ab");
  assertEquals(normalSerial("0"), "0");
});
