/**
 * The admin API (Hono app on `admin.address`). This first cut serves `/ready`, which tests,
 * load balancers and orchestrators poll; the full endpoint set arrives with issue #4.
 */
import { Hono } from "hono";

/** The server state names Envoy reports (`/ready`, `/server_info`). */
export type ServerState = "LIVE" | "DRAINING" | "PRE_INITIALIZING" | "INITIALIZING";

/** What the admin app reads from the server. */
export interface AdminServer {
  state(): ServerState;
}

/** Builds the admin app. */
export function createAdminApp(server: AdminServer): Hono {
  const app = new Hono();
  app.get("/ready", (c) => {
    const state = server.state();
    // Envoy answers 200 only when LIVE; the body is the state name either way.
    return c.text(`${state}\n`, state === "LIVE" ? 200 : 503);
  });
  return app;
}

/** A running admin listener. */
export interface AdminListener {
  port: number;
  close(): Promise<void>;
}

/** Serves the admin app on `hostname:port`; throws a clear Error if it cannot bind. */
export function startAdmin(app: Hono, hostname: string, port: number): AdminListener {
  try {
    const srv = Deno.serve({ hostname, port, onListen: () => {} }, app.fetch);
    return { port: srv.addr.port, close: () => srv.shutdown() };
  } catch (e) {
    const why = e instanceof Deno.errors.AddrInUse
      ? "address already in use"
      : (e as Error).message;
    throw new Error(`admin: cannot bind ${hostname}:${port}: ${why}`);
  }
}
