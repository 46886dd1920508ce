/**
 * Config builders the TLS and SDS tests share: a bootstrap with one HTTPS listener (a
 * DownstreamTlsContext filter chain in front of an HCM routing everything to one cluster), SDS
 * files in a Kubernetes-style watched directory (a `live` link swapped atomically between
 * versions), and the subject of the certificate a listener serves.
 *
 * @module
 */

/** `s` with every line indented by `n` spaces (YAML nesting). */
export const indent = (s: string, n: number): string => s.replace(/^/gm, " ".repeat(n));

/**
 * A bootstrap with admin and listener `https`: one filter chain whose transport socket is a
 * DownstreamTlsContext with the fields `tls`, then an HCM routing everything to `cluster`
 * (`backend` by default). `clusters` is the YAML list of static clusters; `head` goes before
 * `static_resources` (node, dynamic_resources), `staticExtra` right inside it (secrets);
 * `chainExtra` is added to the filter chain and `hcmExtra` to the HCM.
 */
export function httpsConfig(opts: {
  tls: string;
  clusters: string;
  cluster?: string;
  head?: string;
  staticExtra?: string;
  chainExtra?: string;
  hcmExtra?: string;
}): string {
  return `admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
${opts.head ?? ""}
static_resources:
${indent(opts.staticExtra ?? "", 2)}
  listeners:
  - name: https
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
${indent(opts.tls, 10)}
${indent(opts.chainExtra ?? "", 6)}
      filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: test
${indent(opts.hcmExtra ?? "", 10)}
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: ${opts.cluster ?? "backend"} }
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
${indent(opts.clusters, 2)}
`;
}

/** Writes the SDS file at `path`: secret `server_cert` from `cert` and `key`, swapped in atomically. */
export async function writeSds(path: string, cert: string, key: string): Promise<void> {
  // Written aside and renamed into place, as SDS file writers do.
  await Deno.writeTextFile(
    `${path}.tmp`,
    `resources:
- "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret
  name: server_cert
  tls_certificate:
    certificate_chain: { filename: ${cert} }
    private_key: { filename: ${key} }
`,
  );
  await Deno.rename(`${path}.tmp`, path);
}

/**
 * A watched directory in a new temp dir: one subdirectory per version (name, certificate, key)
 * holding `cert.pem` and `key.pem`, `live` linked to the first, and `sds.yaml` naming the files
 * under `live`. Returns the directory and the SDS file's path.
 */
export async function sdsVersions(
  versions: [name: string, cert: string, key: string][],
): Promise<{ dir: string; sds: string }> {
  const dir = await Deno.makeTempDir({ prefix: "denvoy-sds-" });
  for (const [name, cert, key] of versions) {
    await Deno.mkdir(`${dir}/${name}`);
    await Deno.copyFile(cert, `${dir}/${name}/cert.pem`);
    await Deno.copyFile(key, `${dir}/${name}/key.pem`);
  }
  await Deno.symlink(`${dir}/${versions[0][0]}`, `${dir}/live`);
  const sds = `${dir}/sds.yaml`;
  await writeSds(sds, `${dir}/live/cert.pem`, `${dir}/live/key.pem`);
  return { dir, sds };
}

/** DownstreamTlsContext fields: the certificate is SDS `server_cert` from file `sds`, `dir` watched. */
export function watchedSdsTls(sds: string, dir: string): string {
  return `common_tls_context:
  tls_certificate_sds_secret_configs:
  - name: server_cert
    sds_config:
      path_config_source: { path: ${sds}, watched_directory: { path: ${dir} } }`;
}

/** Points `live` in `dir` at version `name`, atomically (a new link renamed over the old). */
export async function swapLive(dir: string, name: string): Promise<void> {
  await Deno.symlink(`${dir}/${name}`, `${dir}/live.new`);
  await Deno.rename(`${dir}/live.new`, `${dir}/live`);
}

/** The subject of the certificate served on `port` for SNI example.com (openssl s_client). */
export async function servedSubject(port: number): Promise<string> {
  const out = await new Deno.Command("openssl", {
    args: ["s_client", "-connect", `127.0.0.1:${port}`, "-servername", "example.com"],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  return /subject=(.*)/.exec(new TextDecoder().decode(out.stdout))?.[1] ?? "";
}
