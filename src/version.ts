/**
 * Version identity of this build, reported by `--version`, `--hot-restart-version` and the
 * admin `/server_info` endpoint.
 *
 * @module
 */

/** denvoy's own release version (semver); the `-dev` suffix marks an unreleased build. */
export const VERSION = "1.0.0-dev";

/**
 * Source revision the build came from. Envoy prints a 40-hex commit sha here; `dev` says the
 * code runs from a checkout rather than a stamped release build.
 */
export const BUILD_REVISION = "dev";

/**
 * The version string in Envoy's `<revision>/<version>/<tree state>/<build type>/<TLS library>`
 * shape. Tools that parse Envoy's `--version` output or `/server_info` split on `/`, so the
 * fields after the version are kept as Envoy writes them.
 */
export const BUILD_VERSION = `${BUILD_REVISION}/${VERSION}/Clean/RELEASE/BoringSSL`;

/**
 * Hot restart compatibility version, printed by `--hot-restart-version`. A new process only
 * takes over from a parent that reports the same value, so it must change whenever the
 * parent/child hand-over protocol changes.
 */
export const HOT_RESTART_VERSION = "1";
