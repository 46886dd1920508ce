/**
 * Fields that current Envoy has but the API snapshot shipped in `@grpc/grpc-js-xds` lacks.
 * `generate.ts` inserts each one into its message before compiling, so configs written for
 * current Envoy load. Every field keeps the field number Envoy gave it, so binary configs
 * and xDS payloads stay wire compatible.
 */
export interface ProtoPatch {
  /** Path of the .proto file inside the assembled source tree. */
  file: string;
  /** Name of the message that gets the field; must occur exactly once in the file. */
  message: string;
  /** The field declaration, as written in Envoy's own .proto. */
  field: string;
  /** Why the field is needed. */
  reason: string;
}

/** The patch set, applied in order. */
export const PATCHES: ProtoPatch[] = [
  {
    file: "validate/validate.proto",
    message: "StringRules",
    field: "optional bool ignore_empty = 26;",
    reason: "Envoy's v3 protos use (validate.rules).string.ignore_empty, which the shipped " +
      "protoc-gen-validate snapshot predates; without it 17 Envoy files do not compile.",
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
