/**
 * Version identity of this build, reported by `--version`, `--hot-restart-version` and the
 * admin `/server_info` endpoint.
 *
 * A source checkout reports revision `dev`. The bundle (`deno task bundle`, and the binary
 * compiled from it) is stamped when it is built: its first module sets the build stamp
 * (`globalThis[Symbol.for("denvoy.build")]`) before this module is evaluated.
 *
 * @module
 */

/** What `build/bundle.ts` records about the build it makes. */
export interface BuildStamp {
  /** The git commit (40 hex digits) the bundle was built from. */
  revision: string;
  /** `Clean`, or `Modified` when the work tree had uncommitted changes (Envoy's words). */
  status: "Clean" | "Modified";
  /** When the bundle was built (ISO 8601, UTC). */
  date: string;
  /** The Deno version that built it. */
  deno: string;
}

const stamp = (globalThis as Record<symbol, unknown>)[Symbol.for("denvoy.build")] as
  | BuildStamp
  | undefined;

/** denvoy's own release version (semver); the `-dev` suffix marks an unreleased build. */
export const VERSION = "1.0.0-dev";

/**
 * Source revision the build came from. Envoy prints a 40-hex commit sha here; `dev` says the
 * code runs from a checkout rather than a stamped build.
 */
export const BUILD_REVISION = stamp?.revision ?? "dev";

/** Envoy's `revision.status`: whether the tree the build came from had local changes. */
export const BUILD_STATUS = stamp?.status ?? "Clean";

/**
 * The version string in Envoy's `<revision>/<version>/<tree state>/<build type>/<TLS library>`
 * shape. Tools that parse Envoy's `--version` output or `/server_info` split on `/`, so the
 * fields after the version are kept as Envoy writes them.
 */
export const BUILD_VERSION = `${BUILD_REVISION}/${VERSION}/${BUILD_STATUS}/RELEASE/BoringSSL`;

/**
 * `--version`: Envoy's version line (blank lines included, so scripts that parse it keep
 * working), then what Envoy has no field for: when the build was made and the Deno runtime
 * running it.
 */
export function versionText(): string {
  const deno = `deno ${Deno.version.deno} (v8 ${Deno.version.v8})`;
  const built = stamp ? `built ${stamp.date} with deno ${stamp.deno}` : "built from source";
  return `\ndenvoy  version: ${BUILD_VERSION}\n\n${built}; running on ${deno}\n`;
}

/**
 * Hot restart compatibility version, printed by `--hot-restart-version`. A new process only
 * takes over from a parent that reports the same value, so it must change whenever the
 * parent/child hand-over protocol changes.
 */
export const HOT_RESTART_VERSION = "1";
