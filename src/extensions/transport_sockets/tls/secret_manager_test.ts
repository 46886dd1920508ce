import { create } from "@bufbuild/protobuf";
import { assert, assertEquals, assertMatch } from "../../../testing/assert.ts";
import { builtinExtensions } from "../../builtin.ts";
import { SdsSecretConfigSchema } from "../../../../proto/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.ts";
import { SecretSchema } from "../../../../proto/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.ts";
import { testCerts } from "../../../../tests/tls_certs.ts";
import type { Problems } from "./context_config.ts";
import { SecretManager } from "./secret_manager.ts";
import { applySdsSecrets, sdsSourceKey } from "./sds_registry.ts";
import { ConfigSourceSchema } from "../../../../proto/gen/envoy/config/core/v3/config_source_pb.ts";

const reg = builtinExtensions();

function collect(): Problems & { all: string[] } {
  const all: string[] = [];
  return {
    all,
    report: (m, f) => all.push(`${f}: ${m}`),
    unsupported: (m, f) => all.push(`${f}: ${m} unsupported`),
  };
}

Deno.test("SecretManager: a static secret by name; a missing one is Envoy's 'Unknown static secret'; a secret of the wrong kind is refused", () => {
  const m = new SecretManager([
    create(SecretSchema, {
      name: "ca",
      type: { case: "validationContext", value: { allowExpiredCertificate: true } },
    }),
  ], reg);
  const r = m.resolver();
  const p = collect();
  const sds = (name: string) => create(SdsSecretConfigSchema, { name });
  assertEquals(r.validationContext(sds("ca"), "f", p)?.allowExpiredCertificate, true);
  assertEquals(r.validationContext(sds("nope"), "g", p), undefined);
  assertEquals(r.tlsCertificate(sds("ca"), "h", p), undefined);
  assertEquals(p.all, [
    "g.name: Unknown static secret: nope",
    "h.name: secret 'ca' is not a tls_certificate",
  ]);
});

Deno.test("SecretManager: a file of Secret resources (path_config_source) is read; a secret whose certificate does not load refuses the file", async () => {
  const c = await testCerts();
  const dir = await Deno.makeTempDir();
  const file = `${dir}/sds.yaml`;
  const write = (cert: string) =>
    Deno.writeTextFileSync(
      file,
      `resources:
- "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret
  name: cert
  tls_certificate:
    certificate_chain: { filename: ${cert} }
    private_key: { filename: ${c.serverKey} }
`,
    );
  write(c.serverChain);
  const sds = create(SdsSecretConfigSchema, {
    name: "cert",
    sdsConfig: { configSourceSpecifier: { case: "pathConfigSource", value: { path: file } } },
  });
  const r = new SecretManager([], reg).resolver();
  const p = collect();
  const cert = r.tlsCertificate(sds, "f", p);
  assertEquals(p.all, []);
  assertEquals(cert?.certificateChain?.specifier.value, c.serverChain);
  assertEquals(r.used.size, 1);

  write(c.clientCert); // the server key does not match it
  const p2 = collect();
  assertEquals(new SecretManager([], reg).resolver().tlsCertificate(sds, "f", p2), undefined);
  assert(p2.all.length > 0);
  assertMatch(p2.all[0], /cannot load SDS file .*private key does not match/);
});

Deno.test("SecretManager: a secret SDS over xDS has not supplied is pending, not an error; once applied it resolves and subscribers hear of it", () => {
  const m = new SecretManager([], reg);
  const cs = create(ConfigSourceSchema, {
    configSourceSpecifier: { case: "ads", value: {} },
    resourceApiVersion: 2,
  });
  const sds = create(SdsSecretConfigSchema, { name: "xds_ca", sdsConfig: cs });
  const r = m.resolver();
  const p = collect();
  assertEquals(r.validationContext(sds, "f", p), undefined);
  assertEquals(p.all, []);
  assert(r.pending && r.isPending(sds));
  let heard = 0;
  for (const src of r.used) src.subscribe(() => heard++);
  applySdsSecrets([{
    source: sdsSourceKey(cs),
    name: "xds_ca",
    secret: create(SecretSchema, {
      name: "xds_ca",
      type: { case: "validationContext", value: { allowExpiredCertificate: true } },
    }),
  }]);
  assertEquals(heard, 1);
  const again = m.resolver();
  assertEquals(again.validationContext(sds, "f", p)?.allowExpiredCertificate, true);
  assert(!again.pending && !again.isPending(sds));
});

Deno.test("SecretManager: an SDS config source that cannot serve secrets is refused with its field", () => {
  const m = new SecretManager([], reg);
  const cs = create(ConfigSourceSchema, {
    configSourceSpecifier: { case: "apiConfigSource", value: { apiType: 2 } },
  });
  const p = collect();
  m.resolver().tlsCertificate(create(SdsSecretConfigSchema, { name: "c", sdsConfig: cs }), "f", p);
  assertMatch(p.all[0], /^f\.sds_config\.api_config_source\.grpc_services: .*single gRPC service/);
});
