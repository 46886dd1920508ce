/**
 * Fields that current Envoy has but the API snapshot shipped in `@grpc/grpc-js-xds` lacks.
 * `generate.ts` inserts each one into its message before compiling, so configs written for
 * current Envoy load. Every field keeps the field number Envoy gave it, so binary configs
 * and xDS payloads stay wire compatible.
 */
export type ProtoPatch =
  & {
    /** Path of the .proto file inside the assembled source tree. */
    file: string;
    /** Why the change is needed. */
    reason: string;
  }
  & (
    | {
      /** Name of the message that gets the declaration; must occur exactly once in the file. */
      message: string;
      /** The declaration (a field or a nested message), as current Envoy writes it. */
      field: string;
    }
    | {
      /** Exact text to replace; must occur exactly once in the file. */
      replace: string;
      with: string;
    }
  );

/** The patch set, applied in order. */
export const PATCHES: ProtoPatch[] = [
  {
    file: "validate/validate.proto",
    message: "StringRules",
    field: "optional bool ignore_empty = 26;",
    reason: "Envoy's v3 protos use (validate.rules).string.ignore_empty, which the shipped " +
      "protoc-gen-validate snapshot predates; without it 17 Envoy files do not compile.",
  },
  {
    file: "envoy/extensions/filters/http/jwt_authn/v3/config.proto",
    message: "JwtClaimToHeader",
    field: "message PathSegment { string key = 1; }",
    reason: "current Envoy (PR #46435) addresses claims by a list of literal path segments " +
      "(`claim_path: [{key: ...}]`), as the corpus's envoy-configs/jwt_authn.yaml does",
  },
  {
    file: "envoy/extensions/filters/http/jwt_authn/v3/config.proto",
    message: "JwtClaimToHeader",
    field: "repeated PathSegment claim_path = 3;",
    reason: "see PathSegment. Field 3 is the message's next free number, where the upstream " +
      "change adds it; re-check against Envoy's proto when the API snapshot is updated",
  },
  {
    file: "envoy/extensions/filters/http/jwt_authn/v3/config.proto",
    replace: "string claim_name = 2 [(validate.rules).string = {min_len: 1}];",
    with: "string claim_name = 2;",
    reason: "with claim_path, claim_name may be empty; Envoy checks at load time that exactly " +
      "one of claim_name and claim_path is set (the jwt_authn factory's job)",
  },
  {
    file: "envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto",
    message: "TlsInspector",
    field: "google.protobuf.BoolValue enable_ja4_fingerprinting = 3;",
    reason: "current Envoy (1.35+) fingerprints the ClientHello with JA4 too " +
      "(`%TLS_JA4_FINGERPRINT%`); field 3 is the number Envoy's tls_inspector.proto gives it",
  },
];

/**
 * Files removed from the assembled tree before compiling, with the reason for each.
 * Paths ending in "/" remove a whole folder.
 */
export const EXCLUDED: { path: string; reason: string }[] = [
  { path: "**/v2/", reason: "Envoy v2 API: removed from Envoy, and its imports are incomplete" },
  { path: "**/v2alpha/", reason: "v2-era alpha API, superseded by v3" },
  { path: "**/v2alpha1/", reason: "v2-era alpha API that imports removed v2 files" },
  {
    path: "google/api/servicecontrol/",
    reason: "imports google/logging and google/longrunning, which are not shipped",
  },
  { path: "google/api/servicemanagement/", reason: "imports google/longrunning, not shipped" },
  {
    path: "envoy/service/metrics/",
    reason: "metrics_service imports the Prometheus client model, which is not shipped",
  },
  {
    path: "envoy/service/trace/",
    reason: "trace_service (OpenCensus agent) imports OpenCensus span protos, not shipped",
  },
];
