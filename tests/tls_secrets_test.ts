/**
 * Secrets: `static_resources.secrets` named by TLS contexts, and SDS from files
 * (`path_config_source`) whose certificates rotate without dropping connections; a broken update
 * keeps the previous certificate and is counted.
 */
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import { adminStatsWhen, curl, Proxy, staticCluster, upstream } from "./proxy.ts";
import { type TestCerts, testCerts } from "./tls_certs.ts";

const indent = (s: string, n: number) => s.replace(/^/gm, " ".repeat(n));

function config(tls: string, upstreamPort: number, extra = ""): string {
  return `admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
static_resources:
${extra}
  listeners:
  - name: https
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
${indent(tls, 10)}
      filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: test
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: backend }
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
${indent(staticCluster("backend", upstreamPort), 2)}
`;
}

/** The subject of the certificate the proxy presents (via openssl s_client). */
async function servedSubject(port: number): Promise<string> {
  const out = await new Deno.Command("openssl", {
    args: ["s_client", "-connect", `127.0.0.1:${port}`, "-servername", "example.com"],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  return /subject=(.*)/.exec(new TextDecoder().decode(out.stdout))?.[1] ?? "";
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
    `  secrets:
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

async function writeSds(path: string, cert: string, key: string): Promise<void> {
  // Written aside and renamed into place, as SDS file writers do (atomic replace).
  await Deno.writeTextFile(
    `${path}.tmp`,
    `resources:
- "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret
  name: server_cert
  tls_certificate:
    certificate_chain: { filename: ${cert} }
    private_key: { filename: ${key} }
`,
  );
  await Deno.rename(`${path}.tmp`, path);
}

Deno.test("SDS from a file: the certificate rotates when its files are swapped in (watched_directory symlink swap), an open connection keeps working, a broken update keeps the previous certificate and is counted", async () => {
  const c: TestCerts = await testCerts();
  const dir = await Deno.makeTempDir({ prefix: "denvoy-sds-" });
  // Kubernetes-style: `live` links to the current version's directory and is swapped atomically.
  const version = async (name: string, cert: string, key: string) => {
    await Deno.mkdir(`${dir}/${name}`);
    await Deno.copyFile(cert, `${dir}/${name}/cert.pem`);
    await Deno.copyFile(key, `${dir}/${name}/key.pem`);
  };
  await version("v1", c.serverChain, c.serverKey);
  await version("v2", c.ecdsaCert, c.ecdsaKey);
  await Deno.symlink(`${dir}/v1`, `${dir}/live`);
  const sds = `${dir}/sds.yaml`;
  await writeSds(sds, `${dir}/live/cert.pem`, `${dir}/live/key.pem`);
  const up = upstream(() => new Response("ok"));
  const proxy = await Proxy.start(config(
    `common_tls_context:
  tls_certificate_sds_secret_configs:
  - name: server_cert
    sds_config:
      path_config_source: { path: ${sds}, watched_directory: { path: ${dir} } }`,
    up.port,
  ));
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

    await Deno.symlink(`${dir}/v2`, `${dir}/live.new`);
    await Deno.rename(`${dir}/live.new`, `${dir}/live`);
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
