/**
 * TLS without termination: tls_inspector reads SNI and ALPN from the ClientHello, filter chain
 * matching picks a tcp_proxy chain by server name, transport protocol or ALPN (or the
 * filter_chain_matcher tree), and the TLS session runs end to end between the client (curl,
 * openssl s_client, node:tls) and a TLS upstream. The corpus configs tls-inspector/envoy.yaml,
 * tls-sni/envoy.yaml and tls/envoy-https-passthrough.yaml are served with ports, addresses and
 * certificates rewritten.
 */
import { testCerts } from "./tls_certs.ts";
import tls from "node:tls";
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import { CORPUS } from "./corpus.ts";
import { adminStatsWhen, curl, Proxy, waitForLines } from "./proxy.ts";

const EXAMPLES = `${CORPUS}envoy-examples/`;
const present = (() => {
  try {
    return Deno.statSync(EXAMPLES).isDirectory;
  } catch {
    return false;
  }
})();
/** A corpus test's name, saying why it is skipped when the corpus is absent. */
const corpusTest = (name: string) =>
  present ? name : `${name} SKIPPED because ../shared/corpus is absent`;

/** A self-signed certificate for `name` (and its key), made with openssl. */
function certFor(name: string): { cert: string; key: string; certPath: string } {
  const dir = Deno.makeTempDirSync();
  const r = new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      `${dir}/key.pem`,
      "-out",
      `${dir}/cert.pem`,
      "-days",
      "2",
      "-subj",
      `/CN=${name}`,
      "-addext",
      `subjectAltName=DNS:${name}`,
    ],
    stdout: "null",
    stderr: "piped",
  }).outputSync();
  if (!r.success) throw new Error(new TextDecoder().decode(r.stderr));
  return {
    cert: Deno.readTextFileSync(`${dir}/cert.pem`),
    key: Deno.readTextFileSync(`${dir}/key.pem`),
    certPath: `${dir}/cert.pem`,
  };
}

/**
 * A TLS upstream (node:tls) that greets each client with `<name> <alpn> <sni>` and then echoes.
 */
async function tlsUpstream(
  name: string,
  alpn: string[] = [],
): Promise<{ port: number; close: () => void }> {
  const { cert, key } = certFor(`${name}.example.com`);
  const server = tls.createServer({ cert, key, ALPNProtocols: alpn }, (s) => {
    s.write(
      `${name} ${s.alpnProtocol || "-"} ${
        (s as unknown as { servername?: string }).servername || "-"
      }\n`,
    );
    s.on("data", (d) => s.write(d));
    s.on("end", () => s.end());
    s.on("error", () => {});
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return { port: (server.address() as { port: number }).port, close: () => server.close() };
}

/** An HTTPS upstream answering every request with `body`. */
function httpsUpstream(
  name: string,
): { port: number; certPath: string; close: () => Promise<void> } {
  const c = certFor(name);
  const srv = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert: c.cert, key: c.key, onListen: () => {} },
    () => new Response(`hello from ${name}\n`),
  );
  return { port: srv.addr.port, certPath: c.certPath, close: () => srv.shutdown() };
}

/** A plain TCP upstream that greets each client with `name`. */
function plainUpstream(name: string): { port: number; close: () => void } {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    for await (const c of l) {
      c.write(new TextEncoder().encode(`${name}\n`)).catch(() => {});
      (async () => {
        const buf = new Uint8Array(1024);
        try {
          while ((await c.read(buf)) !== null) { /* drain */ }
        } catch { /* reset */ }
        try {
          c.close();
        } catch { /* closed */ }
      })();
    }
  })().catch(() => {});
  return { port: (l.addr as Deno.NetAddr).port, close: () => l.close() };
}

/** Opens a TLS connection through the proxy; resolves with the upstream's greeting line. */
function tlsGreeting(
  port: number,
  servername: string | undefined,
  alpn: string[],
): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({
      host: "127.0.0.1",
      port,
      servername,
      ALPNProtocols: alpn,
      rejectUnauthorized: false,
    });
    let got = "";
    s.on("data", (d) => {
      got += d.toString();
      if (got.includes("\n")) {
        s.end();
        resolve(got.trim());
      }
    });
    s.on("error", reject);
    s.on("close", () => resolve(got.trim()));
  });
}

/** Reads a line from a plain connection (the upstream's greeting). */
async function plainGreeting(port: number, send = "hello\n"): Promise<string> {
  const c = await Deno.connect({ hostname: "127.0.0.1", port });
  await c.write(new TextEncoder().encode(send));
  const buf = new Uint8Array(256);
  let text = "";
  while (!text.includes("\n")) {
    const n = await c.read(buf);
    if (n === null) break;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  c.close();
  return text.trim();
}

/** The corpus config with its listener on an ephemeral loopback port and admin added. */
function rewriteListener(yaml: string): string {
  return `admin:\n  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }\n` +
    yaml
      .replace(/^admin:\n( {2}.*\n)+/m, "")
      .replace(
        /address: 0\.0\.0\.0\n(\s+)port_value: 10000/,
        "address: 127.0.0.1\n$1port_value: 0",
      );
}

/** Points the STRICT_DNS cluster endpoint `host:port` at a loopback port. */
function rewriteEndpoint(yaml: string, host: string, port: number, to: number): string {
  const re = new RegExp(`address: ${host}\\n(\\s+)port_value: ${port}`);
  assert(re.test(yaml), `no endpoint ${host}:${port}`);
  return yaml.replace(re, `address: 127.0.0.1\n$1port_value: ${to}`);
}

Deno.test({
  name: corpusTest(
    "corpus tls-inspector: TLS with ALPN h2 / http/1.1 and plaintext reach three upstreams",
  ),
  ignore: !present,
}, async () => {
  const h2 = await tlsUpstream("https1", ["h2"]);
  const h1 = await tlsUpstream("https0", ["http/1.1"]);
  const plain = plainUpstream("http");
  let yaml = rewriteListener(Deno.readTextFileSync(`${EXAMPLES}tls-inspector/envoy.yaml`));
  yaml = rewriteEndpoint(yaml, "service-https1", 443, h2.port);
  yaml = rewriteEndpoint(yaml, "service-https0", 443, h1.port);
  yaml = rewriteEndpoint(yaml, "service-http", 80, plain.port);
  const proxy = await Proxy.start(yaml);
  try {
    const port = proxy.port("");
    assertEquals(
      await tlsGreeting(port, "a.example.com", ["h2", "http/1.1"]),
      "https1 h2 a.example.com",
    );
    assertEquals(await tlsGreeting(port, undefined, ["http/1.1"]), "https0 http/1.1 -");
    assertEquals(await plainGreeting(port), "http");
    // The plaintext connection is tls_not_found.
    const s = await adminStatsWhen(proxy.adminPort, (s) => s["tls_inspector.tls_not_found"] === 1);
    assertEquals(s["tls_inspector.tls_found"], 2);
    assertEquals(s["tls_inspector.alpn_found"], 2);
    assertEquals(s["tls_inspector.sni_found"], 1);
    assertEquals(s["tls_inspector.sni_not_found"], 1);
  } finally {
    await proxy.stop();
    h2.close();
    h1.close();
    plain.close();
  }
});

/** Whether the TLS transport socket (another part of issue 10) is in this build. */
async function hasTlsTransportSocket(): Promise<boolean> {
  const { builtinExtensions } = await import("../src/extensions/builtin.ts");
  return builtinExtensions().byName("envoy.transport_sockets.tls") !== undefined;
}

/** Drops the filter chains of `yaml` that terminate TLS (the ones with a transport_socket). */
function dropTerminatingChains(yaml: string): string {
  const chains = yaml.split(/(?=^ {4}- filter_chain_match:)/m);
  const keep = chains.filter((c, i) => i === 0 || !c.includes("transport_socket:"));
  return keep.join("");
}

Deno.test(
  {
    name: corpusTest(
      "corpus tls-sni: domain3 is passed through to an HTTPS upstream by SNI (curl --resolve); " +
        "no SNI or another name matches no chain",
    ),
    ignore: !present,
  },
  async () => {
    const https = httpsUpstream("domain3.example.com");
    let yaml = rewriteListener(Deno.readTextFileSync(`${EXAMPLES}tls-sni/envoy.yaml`));
    // The TLS-terminating chains need the tls transport socket; without it only the
    // passthrough chain is served (their clusters stay, unused).
    if (!(await hasTlsTransportSocket())) yaml = dropTerminatingChains(yaml);
    else {
      // The terminating chains' certificates (not in the corpus): the test CA's server's.
      const c = await testCerts();
      yaml = yaml.replace(/certs\/domain\d\.crt\.pem/g, c.serverChain)
        .replace(/certs\/domain\d\.key\.pem/g, c.serverKey);
    }
    yaml = rewriteEndpoint(yaml, "service-https", 443, https.port);
    yaml = rewriteEndpoint(yaml, "service-http0", 80, 1);
    yaml = rewriteEndpoint(yaml, "service-http1", 80, 1);
    yaml = yaml.replace(/type: STRICT_DNS/g, "type: STATIC");
    const proxy = await Proxy.start(yaml);
    try {
      const port = proxy.port("");
      const r = await curl([
        "-sS",
        "--cacert",
        https.certPath,
        "--resolve",
        `domain3.example.com:${port}:127.0.0.1`,
        `https://domain3.example.com:${port}/`,
      ]);
      assertEquals(r.code, 0, r.err);
      assertEquals(r.out, "hello from domain3.example.com\n");
      // openssl s_client with another SNI, and one without: closed, counted.
      for (const sni of [["-servername", "other.example.com"], ["-noservername"]]) {
        const o = await new Deno.Command("openssl", {
          args: ["s_client", "-connect", `127.0.0.1:${port}`, ...sni],
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert(!o.success || !new TextDecoder().decode(o.stdout).includes("BEGIN CERTIFICATE"));
      }
      const s = await adminStatsWhen(
        proxy.adminPort,
        (s) => s["listener.127.0.0.1_" + port + ".no_filter_chain_match"] === 2,
      );
      assertEquals(s["tls_inspector.sni_found"], 2);
      assertEquals(s["tls_inspector.sni_not_found"], 1);
    } finally {
      await proxy.stop();
      await https.close();
    }
  },
);

Deno.test({
  name: corpusTest("corpus tls/envoy-https-passthrough: tcp_proxy carries HTTPS to the upstream"),
  ignore: !present,
}, async () => {
  const https = httpsUpstream("service-https.example.com");
  let yaml = rewriteListener(Deno.readTextFileSync(`${EXAMPLES}tls/envoy-https-passthrough.yaml`));
  yaml = rewriteEndpoint(yaml, "service-https", 443, https.port).replace("STRICT_DNS", "STATIC");
  const proxy = await Proxy.start(yaml);
  try {
    const port = proxy.port("");
    const r = await curl([
      "-sS",
      "--cacert",
      https.certPath,
      "--resolve",
      `service-https.example.com:${port}:127.0.0.1`,
      `https://service-https.example.com:${port}/`,
    ]);
    assertEquals([r.code, r.out], [0, "hello from service-https.example.com\n"], r.err);
  } finally {
    await proxy.stop();
    await https.close();
  }
});

Deno.test("JA3 and SNI reach the tcp_proxy access log of a passthrough connection", async () => {
  const up = await tlsUpstream("ja3", []);
  const log = Deno.makeTempFileSync();
  const proxy = await Proxy.start(
    `admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
static_resources:
  listeners:
  - name: tls
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    listener_filters:
    - name: envoy.filters.listener.tls_inspector
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector
        enable_ja3_fingerprinting: true
    filter_chains:
    - filter_chain_match: { server_names: ["*.example.com"] }
      filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: tls
          cluster: up
          access_log:
          - name: envoy.access_loggers.file
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
              path: ${log}
              log_format:
                text_format_source:
                  inline_string: "%REQUESTED_SERVER_NAME% %TLS_JA3_FINGERPRINT% %TLS_JA4_FINGERPRINT%\n"
  clusters:
  - name: up
    type: STATIC
    load_assignment:
      cluster_name: up
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${up.port} } } }
`,
    ["--file-flush-interval-msec", "20"],
  );
  try {
    assertEquals(
      await tlsGreeting(proxy.port("tls"), "www.example.com", []),
      "ja3 - www.example.com",
    );
    const [line] = await waitForLines(log, 1);
    assertMatch(line.trim(), /^www\.example\.com [0-9a-f]{32} -$/);
  } finally {
    await proxy.stop();
    up.close();
  }
});
