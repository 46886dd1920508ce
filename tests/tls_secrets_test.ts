/**
 * Secrets: `static_resources.secrets` named by TLS contexts, and SDS from files
 * (`path_config_source`) whose certificates rotate without dropping connections; a broken update
 * keeps the previous certificate and is counted.
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import { adminStatsWhen, curl, Proxy, staticCluster, upstream } from "./proxy.ts";
import { type TestCerts, testCerts } from "./tls_certs.ts";
import {
  httpsConfig,
  sdsVersions,
  servedSubject,
  swapLive,
  watchedSdsTls,
  writeSds,
} from "./tls_config.ts";

/** The shared HTTPS listener config in front of a static cluster `backend` on `upstreamPort`. */
function config(tls: string, upstreamPort: number, secrets = ""): string {
  return httpsConfig({
    tls,
    clusters: staticCluster("backend", upstreamPort),
    staticExtra: secrets,
  });
}

Deno.test("static_resources.secrets: a listener's certificate and validation context come from named static secrets", async () => {
  const c = await testCerts();
  const up = upstream(() => new Response("ok"));
  const proxy = await Proxy.start(config(
    `common_tls_context:
  tls_certificate_sds_secret_configs: [{ name: server_cert }]
  validation_context_sds_secret_config: { name: client_ca }
require_client_certificate: true`,
    up.port,
    `secrets:
- name: server_cert
  tls_certificate:
    certificate_chain: { filename: ${c.serverChain} }
    private_key: { filename: ${c.serverKey} }
- name: client_ca
  validation_context:
    trusted_ca: { filename: ${c.caCert} }`,
  ));
  try {
    const port = proxy.port("https");
    const args = ["--cacert", c.caCert, "--resolve", `example.com:${port}:127.0.0.1`];
    const ok = await curl([
      ...args,
      "--cert",
      c.clientCert,
      "--key",
      c.clientKey,
      `https://example.com:${port}/`,
    ]);
    assertEquals(ok.out, "ok", ok.err);
    const refused = await curl([...args, `https://example.com:${port}/`]);
    assert(refused.code !== 0);
  } finally {
    await proxy.stop();
    await up.close();
  }
});

Deno.test("SDS from a file: the certificate rotates when its files are swapped in (watched_directory symlink swap), an open connection keeps working, a broken update keeps the previous certificate and is counted", async () => {
  const c: TestCerts = await testCerts();
  // Kubernetes-style: `live` links to the current version's directory and is swapped atomically.
  const { dir, sds } = await sdsVersions([
    ["v1", c.serverChain, c.serverKey],
    ["v2", c.ecdsaCert, c.ecdsaKey],
  ]);
  const up = upstream(() => new Response("ok"));
  const proxy = await Proxy.start(config(watchedSdsTls(sds, dir), up.port));
  try {
    const port = proxy.port("https");
    assertMatch(await servedSubject(port), /CN = example\.com/);
    // A connection made before the rotation.
    const early = await Deno.connectTls({
      hostname: "localhost",
      port,
      caCerts: [Deno.readTextFileSync(c.caCert)],
    });
    await early.handshake();

    await swapLive(dir, "v2");
    const listener = `listener.127.0.0.1_${port}`;
    await adminStatsWhen(
      proxy.adminPort,
      (s) => s[`${listener}.server_ssl_socket_factory.ssl_context_update_by_sds`] === 1,
    );
    assertMatch(await servedSubject(port), /CN = ecdsa\.example\.com/);

    // The early connection still answers.
    await early.write(new TextEncoder().encode("GET / HTTP/1.1\r\nhost: x\r\n\r\n"));
    const buf = new Uint8Array(4096);
    const n = await early.read(buf);
    assertMatch(new TextDecoder().decode(buf.subarray(0, n ?? 0)), /^HTTP\/1\.1 200/);
    early.close();

    // A certificate file that is not a certificate: refused, the ECDSA one stays.
    const broken = `${dir}/broken.pem`;
    await Deno.writeTextFile(broken, "not a certificate\n");
    await writeSds(sds, broken, `${dir}/live/key.pem`);
    const s = await adminStatsWhen(
      proxy.adminPort,
      (s) => s["sds.server_cert.update_rejected"] === 1,
    );
    assertEquals(s["sds.server_cert.update_success"], 1);
    assertMatch(await servedSubject(port), /CN = ecdsa\.example\.com/);
  } finally {
    await proxy.stop();
    await up.close();
  }
});
