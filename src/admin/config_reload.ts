/**
 * `POST /config_reload`: reload the bootstrap file, as SIGHUP and `--watch-config` do
 * (xds/bootstrap_reload.ts). 200 with what changed; 400 with every issue (file:line:col and
 * field path) when the file is refused, the running config unchanged.
 *
 * @module
 */
import { type Handler, text } from "./handler.ts";

/** What `/config_reload` needs of the server. */
export interface ConfigReloadAdmin {
  configReload?(): { ok: boolean; message: string };
}

/** The `/config_reload` endpoint. */
export function configReloadHandler(server: ConfigReloadAdmin): Handler {
  return {
    path: "/config_reload",
    help: "reload the bootstrap file's listeners and clusters (a refused file changes nothing)",
    post: true,
    params: [],
    run: (c) => {
      const r = server.configReload?.() ??
        { ok: false, message: "this server cannot reload its config" };
      return text(c, `${r.message}\n`, r.ok ? 200 : 400);
    },
  };
}
