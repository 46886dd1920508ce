/**
 * Every extension compiled into denvoy. Adding an extension means adding its folder under
 * `src/extensions/` and one line here; the loader then accepts its config everywhere.
 */
import { ExtensionRegistry } from "../config/extensions.ts";
import { fileAccessLogFactory } from "./access_loggers/file/config.ts";
import { stderrAccessLogFactory, stdoutAccessLogFactory } from "./access_loggers/stream/config.ts";
import { routerFactory } from "./filters/http/router/config.ts";
import { grpcWebFactory } from "./filters/http/grpc_web/config.ts";
import { grpcStatsFactory } from "./filters/http/grpc_stats/config.ts";
import { onDemandFactory } from "./filters/http/on_demand/on_demand.ts";
import { faultFactory } from "./filters/http/fault/config.ts";
import { grpcHttp1BridgeFactory } from "./filters/http/grpc_http1_bridge/config.ts";
import { compressorFactory } from "./filters/http/compressor/config.ts";
import { decompressorFactory } from "./filters/http/decompressor/config.ts";
import { gzipCompressorFactory } from "./compression/gzip/compressor/config.ts";
import { gzipDecompressorFactory } from "./compression/gzip/decompressor/config.ts";
import { brotliCompressorFactory } from "./compression/brotli/compressor/config.ts";
import { brotliDecompressorFactory } from "./compression/brotli/decompressor/config.ts";
import { zstdCompressorFactory } from "./compression/zstd/compressor/config.ts";
import { zstdDecompressorFactory } from "./compression/zstd/decompressor/config.ts";
import { corsFactory } from "./filters/http/cors/config.ts";
import { csrfFactory } from "./filters/http/csrf/config.ts";
import { jwtAuthnFactory } from "./filters/http/jwt_authn/config.ts";
import { localRateLimitFactory } from "./filters/http/local_ratelimit/config.ts";
import { httpConnectionManagerFactory } from "./filters/network/http_connection_manager/config.ts";
import { tcpProxyFactory } from "./filters/network/tcp_proxy/config.ts";
import { networkLocalRateLimitFactory } from "./filters/network/local_ratelimit/config.ts";
import { dogStatsdSinkFactory } from "./stat_sinks/dog_statsd/config.ts";
import { statsdSinkFactory } from "./stat_sinks/statsd/config.ts";
import { ipMatcherFactory, networkInputFactories } from "./matching/network_inputs/config.ts";
import { tlsInspectorFactory } from "./filters/listener/tls_inspector/config.ts";
import { httpInspectorFactory } from "./filters/listener/http_inspector/config.ts";
import { proxyProtocolFactory } from "./filters/listener/proxy_protocol/config.ts";
import { originalDstListenerFilterFactory } from "./filters/listener/original_dst/config.ts";
import { healthCheckEventFileSinkFactory } from "./health_check/event_sinks/file/config.ts";
import { upstreamProxyProtocolFactory } from "./transport_sockets/proxy_protocol/config.ts";
import { rawBufferFactory } from "./transport_sockets/raw_buffer/config.ts";
import { tlsTransportSocketFactory } from "./transport_sockets/tls/config.ts";
import { httpProtocolOptionsFactory } from "./upstreams/http/config.ts";
import { preserveCaseFactory } from "./http/header_formatters/preserve_case/config.ts";
import { allowListedRoutesPredicateFactory } from "./internal_redirect/allow_listed_routes/config.ts";
import { previousRoutesPredicateFactory } from "./internal_redirect/previous_routes/config.ts";
import { safeCrossSchemePredicateFactory } from "./internal_redirect/safe_cross_scheme/config.ts";
import {
  omitCanaryHostsPredicateFactory,
  omitHostMetadataPredicateFactory,
  previousHostsPredicateFactory,
} from "./retry/host/config.ts";
import { previousPrioritiesFactory } from "./retry/priority/previous_priorities/config.ts";

import {
  leastRequestPolicyFactory,
  maglevPolicyFactory,
  randomPolicyFactory,
  ringHashPolicyFactory,
  roundRobinPolicyFactory,
} from "./load_balancing_policies/config.ts";
import { fixedHeapFactory } from "./resource_monitors/fixed_heap/config.ts";
import { injectedResourceFactory } from "./resource_monitors/injected_resource/config.ts";
import { downstreamConnectionsFactory } from "./resource_monitors/downstream_connections/config.ts";
/** A registry holding every built-in extension. */
export function builtinExtensions(): ExtensionRegistry {
  const reg = new ExtensionRegistry();
  for (
    const f of [
      httpConnectionManagerFactory,
      tcpProxyFactory,
      networkLocalRateLimitFactory,
      routerFactory,
      grpcWebFactory,
      grpcStatsFactory,
      onDemandFactory,
      faultFactory,
      grpcHttp1BridgeFactory,
      compressorFactory,
      decompressorFactory,
      gzipCompressorFactory,
      gzipDecompressorFactory,
      brotliCompressorFactory,
      brotliDecompressorFactory,
      zstdCompressorFactory,
      zstdDecompressorFactory,
      corsFactory,
      csrfFactory,
      jwtAuthnFactory,
      localRateLimitFactory,
      fileAccessLogFactory,
      stdoutAccessLogFactory,
      stderrAccessLogFactory,
      rawBufferFactory,
      tlsTransportSocketFactory,
      upstreamProxyProtocolFactory,
      httpProtocolOptionsFactory,
      preserveCaseFactory,
      previousRoutesPredicateFactory,
      allowListedRoutesPredicateFactory,
      safeCrossSchemePredicateFactory,
      previousHostsPredicateFactory,
      omitCanaryHostsPredicateFactory,
      omitHostMetadataPredicateFactory,
      previousPrioritiesFactory,
      statsdSinkFactory,
      dogStatsdSinkFactory,
      roundRobinPolicyFactory,
      leastRequestPolicyFactory,
      randomPolicyFactory,
      ringHashPolicyFactory,
      maglevPolicyFactory,
      tlsInspectorFactory,
      httpInspectorFactory,
      proxyProtocolFactory,
      originalDstListenerFilterFactory,
      healthCheckEventFileSinkFactory,
      ...networkInputFactories,
      ipMatcherFactory,
      fixedHeapFactory,
      injectedResourceFactory,
      downstreamConnectionsFactory,
    ]
  ) reg.register(f);
  return reg;
}
