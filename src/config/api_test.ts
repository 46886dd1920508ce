import { assertEquals } from "../testing/assert.ts";
import { apiRegistry, LazyApiRegistry, messageOfUrl, typeNameOfUrl } from "./api.ts";

/** Every config message the feature guide (seed) uses, by full name. */
const SEED_MESSAGES = [
  "envoy.config.bootstrap.v3.Bootstrap",
  "envoy.config.listener.v3.Listener",
  "envoy.config.route.v3.RouteConfiguration",
  "envoy.config.cluster.v3.Cluster",
  "envoy.config.endpoint.v3.ClusterLoadAssignment",
  "envoy.config.core.v3.Address",
  "envoy.config.core.v3.HealthCheck",
  "envoy.config.cluster.v3.OutlierDetection",
  "envoy.config.cluster.v3.CircuitBreakers",
  "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
  "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
  "envoy.extensions.filters.http.router.v3.Router",
  "envoy.extensions.filters.http.cors.v3.Cors",
  "envoy.extensions.filters.http.cors.v3.CorsPolicy",
  "envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
  "envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
  "envoy.extensions.filters.http.ratelimit.v3.RateLimit",
  "envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
  "envoy.extensions.filters.http.lua.v3.Lua",
  "envoy.extensions.filters.http.wasm.v3.Wasm",
  "envoy.extensions.filters.http.compressor.v3.Compressor",
  "envoy.extensions.compression.gzip.compressor.v3.Gzip",
  "envoy.extensions.compression.brotli.compressor.v3.Brotli",
  "envoy.extensions.compression.zstd.compressor.v3.Zstd",
  "envoy.extensions.filters.http.decompressor.v3.Decompressor",
  "envoy.extensions.filters.http.fault.v3.HTTPFault",
  "envoy.extensions.filters.http.rbac.v3.RBAC",
  "envoy.extensions.filters.http.health_check.v3.HealthCheck",
  "envoy.extensions.filters.http.csrf.v3.CsrfPolicy",
  "envoy.extensions.filters.http.grpc_web.v3.GrpcWeb",
  "envoy.extensions.filters.http.buffer.v3.Buffer",
  "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector",
  "envoy.extensions.filters.listener.http_inspector.v3.HttpInspector",
  "envoy.extensions.filters.listener.original_dst.v3.OriginalDst",
  "envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol",
  "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
  "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
  "envoy.extensions.transport_sockets.tls.v3.Secret",
  "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer",
  "envoy.extensions.transport_sockets.proxy_protocol.v3.ProxyProtocolUpstreamTransport",
  "envoy.extensions.access_loggers.file.v3.FileAccessLog",
  "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
  "envoy.extensions.access_loggers.stream.v3.StderrAccessLog",
  "envoy.config.trace.v3.OpenTelemetryConfig",
  "envoy.config.trace.v3.ZipkinConfig",
  "envoy.config.metrics.v3.StatsdSink",
  "envoy.config.metrics.v3.DogStatsdSink",
  "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
  "envoy.service.discovery.v3.DiscoveryRequest",
  "envoy.service.discovery.v3.DeltaDiscoveryRequest",
  "grpc.health.v1.HealthCheckRequest",
];

/** The gRPC services denvoy speaks or serves. */
const SEED_SERVICES = [
  "envoy.service.discovery.v3.AggregatedDiscoveryService",
  "envoy.service.listener.v3.ListenerDiscoveryService",
  "envoy.service.route.v3.RouteDiscoveryService",
  "envoy.service.cluster.v3.ClusterDiscoveryService",
  "envoy.service.endpoint.v3.EndpointDiscoveryService",
  "envoy.service.secret.v3.SecretDiscoveryService",
  "envoy.service.runtime.v3.RuntimeDiscoveryService",
  "envoy.service.extension.v3.ExtensionConfigDiscoveryService",
  "envoy.service.auth.v3.Authorization",
  "envoy.service.ratelimit.v3.RateLimitService",
  "grpc.health.v1.Health",
];

Deno.test("the generated API has every message and service the seed guide uses", () => {
  const reg = apiRegistry();
  assertEquals(SEED_MESSAGES.filter((n) => !reg.getMessage(n)), []);
  assertEquals(SEED_SERVICES.filter((n) => !reg.getService(n)), []);
});

Deno.test("type URLs resolve to their message", () => {
  const url = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
  assertEquals(typeNameOfUrl(url), "envoy.extensions.filters.http.router.v3.Router");
  assertEquals(messageOfUrl(url)?.name, "Router");
  assertEquals(messageOfUrl("type.googleapis.com/no.such.Type"), undefined);
});

Deno.test("the lazy registry decodes only the files a lookup needs, and all of them on iteration", () => {
  const dir = new URL("../../proto/gen/", import.meta.url);
  const bytes = Deno.readFileSync(new URL("envoy_api.binpb", dir));
  const index = JSON.parse(Deno.readTextFileSync(new URL("envoy_api.index.json", dir)));
  const reg = new LazyApiRegistry(bytes, index);
  const router = reg.getMessage("envoy.extensions.filters.http.router.v3.Router");
  assertEquals(router?.typeName, "envoy.extensions.filters.http.router.v3.Router");
  assertEquals(reg.loadedFiles < index.files.length / 4, true);
  // A field whose type comes through an `import public` (tls/v3/cert.proto re-exports
  // common.proto and secret.proto) resolves too.
  const secret = reg.getMessage("envoy.extensions.transport_sockets.tls.v3.Secret");
  assertEquals(
    secret?.fields.find((f) => f.name === "tls_certificate")?.message?.typeName,
    "envoy.extensions.transport_sockets.tls.v3.TlsCertificate",
  );
  const validate = reg.getExtension("validate.rules");
  assertEquals(validate?.typeName, "validate.rules");
  const fieldOptions = reg.getMessage("google.protobuf.FieldOptions")!;
  assertEquals(reg.getExtensionFor(fieldOptions, validate!.number), validate);
  const names = [...reg].map((t) => t.typeName).sort();
  assertEquals(names, Object.keys(index.types).sort());
  assertEquals(reg.loadedFiles, index.files.length);
});
