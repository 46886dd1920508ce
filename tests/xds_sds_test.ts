/**
 * SDS over xDS end to end against the grpc-js test control plane: a static listener's
 * certificate over ADS (server init waits for it), a cluster's combined validation context
 * over a per-type gRPC SDS stream; rotation with an open connection kept; a bad secret NACKed
 * with the previous one kept; an LDS listener warming until its secret arrives; an
 * `initial_fetch_timeout` that ends warming with the context not ready (handshakes refused);
 * `sds.<name>.*` stats, `/config_dump` dynamic secrets (redacted) and `/certs`.
 */
import { X509Certificate } from "node:crypto";
import { assert, assertEquals, assertMatch } from "../src/testing/assert.ts";
import { adminStatsWhen, curl, Proxy, staticCluster } from "./proxy.ts";
import { testCerts } from "./tls_certs.ts";
import { httpsConfig, indent, servedSubject } from "./tls_config.ts";
import { ControlPlane, H2, LISTENER, P } from "./xds_control_plane.ts";

const SECRET = P + "envoy.extensions.transport_sockets.tls.v3.Secret";
const HCM = P + "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

function certSecret(name: string, cert: string, key: string) {
  return {
    "@type": SECRET,
    name,
    tls_certificate: {
      certificate_chain: { inline_string: Deno.readTextFileSync(cert) },
      private_key: { inline_string: Deno.readTextFileSync(key) },
    },
  };
}

function caSecret(name: string, ca: string) {
  return {
    "@type": SECRET,
    name,
    validation_context: { trusted_ca: { inline_string: Deno.readTextFileSync(ca) } },
  };
}

/** An LDS listener whose certificate is SDS secret `secret` over ADS. */
function tlsListener(name: string, secret: string, fetchTimeout?: string) {
  return {
    "@type": LISTENER,
    name,
    address: { socket_address: { address: "127.0.0.1", port_value: 0 } },
    filter_chains: [{
      transport_socket: {
        name: "envoy.transport_sockets.tls",
        typed_config: {
          "@type": P + "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
          common_tls_context: {
            tls_certificate_sds_secret_configs: [{
              name: secret,
              sds_config: {
                ads: {},
                resource_api_version: "V3",
                ...(fetchTimeout ? { initial_fetch_timeout: fetchTimeout } : {}),
              },
            }],
          },
        },
      },
      filters: [{
        name: "envoy.filters.network.http_connection_manager",
        typed_config: {
          "@type": HCM,
          stat_prefix: name,
          route_config: {
            virtual_hosts: [{
              name: "all",
              domains: ["*"],
              routes: [{ match: { prefix: "/" }, direct_response: { status: 200 } }],
            }],
          },
          http_filters: [{
            name: "envoy.filters.http.router",
            typed_config: { "@type": P + "envoy.extensions.filters.http.router.v3.Router" },
          }],
        },
      }],
    }],
  };
}

/**
 * The shared HTTPS listener, its certificate SDS `server_cert` over ADS, in front of cluster
 * `tls_backend` whose CA comes from SDS `upstream_ca` on a gRPC stream of its own.
 */
function bootstrap(xdsPort: number, backendPort: number): string {
  return httpsConfig({
    head: `node: { id: sds-node, cluster: test }
dynamic_resources:
  ads_config:
    api_type: GRPC
    transport_api_version: V3
    grpc_services: [{ envoy_grpc: { cluster_name: xds } }]
  lds_config: { ads: {}, resource_api_version: V3 }`,
    tls: `common_tls_context:
  tls_certificate_sds_secret_configs:
  - name: server_cert
    sds_config: { ads: {}, resource_api_version: V3 }`,
    cluster: "tls_backend",
    clusters: staticCluster("xds", xdsPort, H2) + staticCluster(
      "tls_backend",
      backendPort,
      `transport_socket:
  name: envoy.transport_sockets.tls
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
    sni: example.com
    common_tls_context:
      combined_validation_context:
        default_validation_context:
          match_typed_subject_alt_names:
          - san_type: DNS
            matcher: { exact: example.com }
        validation_context_sds_secret_config:
          name: upstream_ca
          sds_config:
            resource_api_version: V3
            api_config_source:
              api_type: GRPC
              transport_api_version: V3
              grpc_services: [{ envoy_grpc: { cluster_name: xds } }]`,
    ),
  });
}

async function json(url: string): Promise<Record<string, unknown>> {
  const r = await fetch(url);
  return await r.json();
}

Deno.test("SDS over ADS and gRPC: warming, rotation keeping open connections, NACK keeps the old secret, initial_fetch_timeout, config_dump and certs", async () => {
  const c = await testCerts();
  // The TLS upstream presents the example.com certificate the CA secret must verify.
  const backend = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: Deno.readTextFileSync(c.serverChain),
    key: Deno.readTextFileSync(c.serverKey),
    onListen: () => {},
  }, () => new Response("tls backend"));
  const cp = new ControlPlane(
    new Map<string, unknown[]>([
      [SECRET, [
        certSecret("server_cert", c.serverChain, c.serverKey),
        caSecret("upstream_ca", c.caCert),
      ]],
      [LISTENER, []],
    ]),
  );
  await cp.start();
  const p = await Proxy.start(bootstrap(cp.port, backend.addr.port));
  try {
    const port = p.port("https");
    const admin = `http://127.0.0.1:${p.adminPort}`;
    // Server init waited for both secrets: the listener serves with the SDS certificate and the
    // cluster verifies its upstream with the SDS CA merged into the default context.
    const args = ["--cacert", c.caCert, "--resolve", `example.com:${port}:127.0.0.1`];
    const first = await curl([...args, `https://example.com:${port}/`]);
    assertEquals(first.out, "tls backend", first.err);
    assertMatch(await servedSubject(port), /CN = example\.com/);
    const ads = await cp.waitRequest((r) => r.typeUrl === SECRET && r.resourceNames.length > 0);
    assertEquals(ads.resourceNames, ["server_cert"]);

    // A connection made before the rotation.
    const early = await Deno.connectTls({
      hostname: "localhost",
      port,
      caCerts: [Deno.readTextFileSync(c.caCert)],
    });
    await early.handshake();

    // Rotation: new handshakes get the ECDSA certificate; the early connection still answers.
    cp.push(SECRET, [
      certSecret("server_cert", c.ecdsaCert, c.ecdsaKey),
      caSecret("upstream_ca", c.caCert),
    ]);
    const listenerScope = `listener.127.0.0.1_${port}`;
    await adminStatsWhen(
      p.adminPort,
      (s) => s[`${listenerScope}.server_ssl_socket_factory.ssl_context_update_by_sds`] >= 1,
    );
    assertMatch(await servedSubject(port), /CN = ecdsa\.example\.com/);
    await early.write(new TextEncoder().encode("GET / HTTP/1.1\r\nhost: x\r\n\r\n"));
    const buf = new Uint8Array(4096);
    const n = await early.read(buf);
    assertMatch(new TextDecoder().decode(buf.subarray(0, n ?? 0)), /^HTTP\/1\.1 200/);
    early.close();

    // A certificate that does not load: NACKed, the ECDSA certificate stays.
    cp.push(SECRET, [
      {
        "@type": SECRET,
        name: "server_cert",
        tls_certificate: {
          certificate_chain: { inline_string: "not a certificate" },
          private_key: { inline_string: Deno.readTextFileSync(c.ecdsaKey) },
        },
      },
      caSecret("upstream_ca", c.caCert),
    ]);
    const nack = await cp.waitRequest((r) => r.typeUrl === SECRET && !!r.errorDetail);
    assertEquals(nack.versionInfo, "2");
    assertMatch(nack.errorDetail?.message ?? "", /server_cert/);
    const stats = await adminStatsWhen(
      p.adminPort,
      (s) => s["sds.server_cert.update_rejected"] === 1,
    );
    assertEquals(stats["sds.server_cert.update_success"], 2);
    assert(stats["sds.upstream_ca.update_success"] >= 1);
    assertMatch(await servedSubject(port), /CN = ecdsa\.example\.com/);

    // An LDS listener warms until its secret comes.
    cp.push(LISTENER, [tlsListener("late", "late_cert")]);
    await cp.waitRequest((r) => r.typeUrl === SECRET && r.resourceNames.includes("late_cert"));
    await adminStatsWhen(p.adminPort, (s) => s["listener_manager.total_listeners_warming"] === 1);
    let dump = await json(`${admin}/config_dump`);
    const section = (type: string) =>
      (dump.configs as Record<string, unknown>[]).find((s) =>
        s["@type"] === `type.googleapis.com/envoy.admin.v3.${type}`
      )!;
    const warming = section("SecretsConfigDump").dynamic_warming_secrets as { name: string }[];
    assertEquals(warming.map((w) => w.name), ["late_cert"]);
    cp.push(SECRET, [
      certSecret("server_cert", c.ecdsaCert, c.ecdsaKey),
      caSecret("upstream_ca", c.caCert),
      certSecret("late_cert", c.serverChain, c.serverKey),
    ]);
    const latePort = await p.addedPort("late");
    assertMatch(await servedSubject(latePort), /CN = example\.com/);

    // The initial fetch of a secret that never comes times out: the listener serves, its
    // handshakes are refused (the context is not ready).
    cp.push(LISTENER, [tlsListener("late", "late_cert"), tlsListener("never", "never", "0.2s")]);
    const neverPort = await p.addedPort("never");
    const refused = await curl(["-k", `https://127.0.0.1:${neverPort}/`]);
    assert(refused.code !== 0, "no handshake without the secret");
    const s2 = await adminStatsWhen(
      p.adminPort,
      (s) =>
        s[`listener.127.0.0.1_${neverPort}.server_ssl_socket_factory.downstream_context_secrets_not_ready`] ===
          1,
    );
    assertEquals(s2["sds.never.init_fetch_timeout"], 1);

    // /config_dump: the active secrets with their versions, private keys redacted.
    dump = await json(`${admin}/config_dump`);
    const active = section("SecretsConfigDump").dynamic_active_secrets as {
      name: string;
      version_info: string;
      secret: { tls_certificate?: { private_key: { inline_string: string } } };
      error_state?: unknown;
    }[];
    const byName = new Map(active.map((a) => [a.name, a]));
    assertEquals([...byName.keys()].sort(), ["late_cert", "server_cert", "upstream_ca"]);
    assertEquals(
      byName.get("server_cert")!.secret.tls_certificate!.private_key.inline_string,
      "[redacted]",
    );
    assertEquals(byName.get("server_cert")!.version_info, "4");
    assert(!JSON.stringify(dump).includes("PRIVATE KEY"), "no private key in the dump");

    // /certs lists the SDS certificates of the static and the LDS listeners, and the CA.
    const certs = JSON.stringify(await json(`${admin}/certs`));
    const serial = (f: string) =>
      new X509Certificate(Deno.readTextFileSync(f)).serialNumber.toLowerCase();
    assert(certs.includes(serial(c.ecdsaCert)), certs);
    assert(certs.includes(serial(c.caCert)), certs);
  } finally {
    await p.stop();
    cp.stop();
    await backend.shutdown();
  }
});

Deno.test("SDS over delta ADS: a CDS cluster warms until its CA secret comes, then verifies its upstream with it; removing the cluster unsubscribes the secret", async () => {
  const c = await testCerts();
  const backend = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: Deno.readTextFileSync(c.serverChain),
    key: Deno.readTextFileSync(c.serverKey),
    onListen: () => {},
  }, () => new Response("delta backend"));
  const CLUSTER = P + "envoy.config.cluster.v3.Cluster";
  const cluster = {
    "@type": CLUSTER,
    name: "tls_backend",
    type: "STATIC",
    connect_timeout: "1s",
    load_assignment: {
      cluster_name: "tls_backend",
      endpoints: [{
        lb_endpoints: [{
          endpoint: {
            address: { socket_address: { address: "127.0.0.1", port_value: backend.addr.port } },
          },
        }],
      }],
    },
    transport_socket: {
      name: "envoy.transport_sockets.tls",
      typed_config: {
        "@type": P + "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
        sni: "example.com",
        common_tls_context: {
          validation_context_sds_secret_config: {
            name: "delta_ca",
            sds_config: { ads: {}, resource_api_version: "V3" },
          },
        },
      },
    },
  };
  // The CA comes only once the cluster asked for it: the cluster warms meanwhile.
  const cp = new ControlPlane(new Map<string, unknown[]>([[CLUSTER, [cluster]], [SECRET, []]]));
  await cp.start();
  const p = Proxy.start(`node: { id: delta-node, cluster: test }
admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
dynamic_resources:
  ads_config:
    api_type: DELTA_GRPC
    transport_api_version: V3
    grpc_services: [{ envoy_grpc: { cluster_name: xds } }]
  cds_config: { ads: {}, resource_api_version: V3, initial_fetch_timeout: 0s }
static_resources:
  listeners:
  - name: http
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: test
          route_config:
            validate_clusters: false
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: tls_backend }
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
${indent(staticCluster("xds", cp.port, H2), 2)}
`).catch((e) => e as Error);
  try {
    // Server init waits for the cluster, which waits for its secret.
    const sub = await Promise.race([
      cp.waitDelta((r) => r.typeUrl === SECRET && r.resourceNamesSubscribe.includes("delta_ca")),
      p.then((x) => {
        throw x instanceof Error ? x : new Error("started before its cluster's secret came");
      }),
    ]);
    assertEquals(sub.resourceNamesSubscribe, ["delta_ca"]);
    cp.push(SECRET, [caSecret("delta_ca", c.caCert)]);
    const proxy = await p;
    if (proxy instanceof Error) throw proxy;
    try {
      const r = await curl([`http://127.0.0.1:${proxy.port("http")}/`]);
      assertEquals(r.out, "delta backend", r.err);
      const s = await adminStatsWhen(
        proxy.adminPort,
        (s) => s["sds.delta_ca.update_success"] >= 1,
      );
      assertEquals(s["cluster_manager.warming_clusters"], 0);

      // The cluster goes: its secret's subscription goes with its last user, as Envoy's.
      cp.push(CLUSTER, [], ["tls_backend"]);
      const unsub = await cp.waitDelta((r) =>
        r.typeUrl === SECRET && r.resourceNamesUnsubscribe.includes("delta_ca")
      );
      assertEquals(unsub.resourceNamesSubscribe, []);
      const dump = await (await fetch(`http://127.0.0.1:${proxy.adminPort}/config_dump`)).json();
      const secrets = dump.configs.find((c: { "@type": string }) =>
        c["@type"] === "type.googleapis.com/envoy.admin.v3.SecretsConfigDump"
      );
      assertEquals(secrets?.dynamic_active_secrets ?? [], []);
    } finally {
      await proxy.stop();
    }
  } finally {
    cp.stop();
    await backend.shutdown();
  }
});
