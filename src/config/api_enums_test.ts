import { assertEquals } from "../testing/assert.ts";
import { SocketOption_SocketState } from "../../proto/gen/envoy/config/core/v3/socket_option_pb.ts";
import {
  ProxyProtocolConfig_Version,
  ProxyProtocolPassThroughTLVs_PassTLVsMatchType,
} from "../../proto/gen/envoy/config/core/v3/proxy_protocol_pb.ts";
import {
  CertificateValidationContext_TrustChainVerification,
  SubjectAltNameMatcher_SanType,
  TlsParameters_TlsProtocol,
} from "../../proto/gen/envoy/extensions/transport_sockets/tls/v3/common_pb.ts";
import { DownstreamTlsContext_OcspStaplePolicy } from "../../proto/gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.ts";
import { Brotli_EncoderMode } from "../../proto/gen/envoy/extensions/compression/brotli/compressor/v3/brotli_pb.ts";
import {
  BrotliEncoderMode,
  enumName,
  OcspStaplePolicy,
  PassTlvsMatchType,
  ProxyProtocolVersion,
  SanType,
  SocketState,
  TlsProtocol,
  TrustChainVerification,
} from "./api_enums.ts";

/** A generated TypeScript enum's members by name (without its reverse mapping). */
function members(e: Record<string, string | number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(e).filter((kv): kv is [string, number] => typeof kv[1] === "number"),
  );
}

Deno.test("api_enums: every constant is the generated enum's, member for member", () => {
  const pairs: [Record<string, number>, Record<string, string | number>][] = [
    [SocketState, SocketOption_SocketState],
    [ProxyProtocolVersion, ProxyProtocolConfig_Version],
    [PassTlvsMatchType, ProxyProtocolPassThroughTLVs_PassTLVsMatchType],
    [TlsProtocol, TlsParameters_TlsProtocol],
    [SanType, SubjectAltNameMatcher_SanType],
    [TrustChainVerification, CertificateValidationContext_TrustChainVerification],
    [OcspStaplePolicy, DownstreamTlsContext_OcspStaplePolicy],
    [BrotliEncoderMode, Brotli_EncoderMode],
  ];
  for (const [constants, generated] of pairs) assertEquals({ ...constants }, members(generated));
});

Deno.test("api_enums: enumName names a value, or gives the number it does not know", () => {
  assertEquals(enumName(TlsProtocol, 2), "TLSv1_1");
  assertEquals(enumName(OcspStaplePolicy, 2), "MUST_STAPLE");
  assertEquals(enumName(TlsProtocol, 9), "9");
});

Deno.test("no module of denvoy imports a value of a generated proto module, only types", () => {
  const offenders: string[] = [];
  const check = (file: URL) => {
    const text = Deno.readTextFileSync(file);
    for (const m of text.matchAll(/^import\s+([^;]*?)\s*from\s+"[^"]*proto\/gen\/[^"]*"/gm)) {
      const clause = m[1];
      const values = clause.startsWith("type ") ? [] : clause.replace(/^\{|\}$/g, "")
        .split(",").map((s) => s.trim()).filter((s) => s && !s.startsWith("type "));
      if (values.length > 0) offenders.push(`${file.pathname}: ${values.join(", ")}`);
    }
    if (/^import\s+"[^"]*proto\/gen\//m.test(text)) offenders.push(file.pathname);
  };
  const walk = (dir: URL) => {
    for (const e of Deno.readDirSync(dir)) {
      if (e.isDirectory) walk(new URL(`${e.name}/`, dir));
      else if (e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) check(new URL(e.name, dir));
    }
  };
  walk(new URL("../", import.meta.url));
  check(new URL("../../main.ts", import.meta.url));
  assertEquals(offenders, []);
});
