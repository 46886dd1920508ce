import { assertEquals, assertMatch } from "../testing/assert.ts";
import { adminGuard, adminTls, exposureWarning, isLoopback, readAdminToken } from "./security.ts";
import { parseAdminAllow } from "./allow_list.ts";

Deno.test("no flags: no guard at all (the admin is Envoy's)", () => {
  assertEquals(adminGuard({}), undefined);
});

Deno.test("bearer token: 401 without it or with a wrong one", () => {
  const guard = adminGuard({ token: "s3cret" })!;
  assertEquals(guard("GET", "/stats", undefined, false)?.status, 401);
  assertEquals(guard("GET", "/stats", "Bearer wrong", false)?.status, 401);
  assertEquals(guard("GET", "/stats", "Basic s3cret", false)?.status, 401);
  assertEquals(
    guard("GET", "/stats", undefined, false)?.headers,
    { "www-authenticate": 'Bearer realm="denvoy admin"' },
  );
  assertEquals(guard("GET", "/stats", "Bearer s3cret", false), undefined);
  assertEquals(guard("GET", "/stats", "bearer s3cret", false), undefined);
});

Deno.test("allow-list and read-only: 403 for what is not served", () => {
  const allow = adminGuard({ allow: parseAdminAllow(["GET:/stats,*:/ready"]) })!;
  assertEquals(allow("GET", "/stats", undefined, false), undefined);
  assertEquals(allow("HEAD", "/stats", undefined, false), undefined);
  assertEquals(allow("POST", "/ready", undefined, false), undefined);
  assertEquals(
    allow("GET", "/clusters", undefined, false)?.body,
    "admin: GET /clusters is not allowed (--admin-allow)\n",
  );
  const ro = adminGuard({ readOnly: true })!;
  assertEquals(ro("POST", "/quitquitquit", undefined, true)?.status, 403);
  assertEquals(ro("GET", "/stats", undefined, false), undefined);
  // A GET of a mutating endpoint gets Envoy's own answer (405, or the log levels).
  assertEquals(ro("GET", "/logging", undefined, true), undefined);
});

Deno.test("the admin token file: one word, not empty", () => {
  const f = Deno.makeTempFileSync();
  Deno.writeTextFileSync(f, "  abc123\n");
  assertEquals(readAdminToken(f), "abc123");
  Deno.writeTextFileSync(f, "\n");
  let msg = "";
  try {
    readAdminToken(f);
  } catch (e) {
    msg = (e as Error).message;
  }
  assertEquals(msg, `--admin-token-file '${f}' is empty`);
  Deno.removeSync(f);
});

Deno.test("an admin other hosts can reach is warned about", () => {
  for (const a of ["127.0.0.1", "127.1.2.3", "::1", "localhost"]) assertEquals(isLoopback(a), true);
  for (const a of ["0.0.0.0", "::", "10.0.0.1"]) assertEquals(isLoopback(a), false);
  assertEquals(exposureWarning("127.0.0.1", {}), undefined);
  assertMatch(exposureWarning("0.0.0.0", {})!, /anyone who connects can .* --admin-token-file/);
  assertMatch(
    exposureWarning("0.0.0.0", { token: "x", readOnly: true })!,
    /protected by a bearer token, read-only$/,
  );
  const mtls = { cert: "c", key: "k", clientCa: "ca" };
  assertMatch(
    exposureWarning("0.0.0.0", { tls: mtls })!,
    /protected by client certificates \(mutual TLS\)$/,
  );
  // TLS without client certificates encrypts, but lets anyone in.
  assertMatch(exposureWarning("::", { tls: { cert: "c", key: "k" } })!, /anyone who connects/);
});

Deno.test("--admin-tls-*: a certificate and its key together, PEM files that can be read", () => {
  const none = { adminTlsCert: "", adminTlsKey: "", adminTlsClientCa: "" };
  /** The message `adminTls` throws for `flags`. */
  const refusal = (flags: Partial<typeof none>) => {
    try {
      adminTls({ ...none, ...flags });
    } catch (e) {
      return (e as Error).message;
    }
    return "accepted";
  };
  assertEquals(adminTls(none), undefined);
  assertMatch(refusal({ adminTlsKey: "k.pem" }), /go together/);
  assertMatch(refusal({ adminTlsClientCa: "ca.pem" }), /--admin-tls-client-ca needs both/);
  const dir = Deno.makeTempDirSync();
  Deno.writeTextFileSync(`${dir}/cert.pem`, "-----BEGIN CERTIFICATE-----\nAA==\n");
  Deno.writeTextFileSync(`${dir}/key.pem`, "not a key");
  assertEquals(
    refusal({ adminTlsCert: `${dir}/cert.pem`, adminTlsKey: `${dir}/key.pem` }),
    `--admin-tls-key '${dir}/key.pem' holds no PEM key`,
  );
  assertMatch(
    refusal({ adminTlsCert: `${dir}/nope.pem`, adminTlsKey: `${dir}/key.pem` }),
    /^--admin-tls-cert '.*\/nope\.pem': /,
  );
});
