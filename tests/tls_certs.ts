/**
 * Test certificates made with openssl in a temporary directory: a root CA, an intermediate CA,
 * server certificates (RSA via the intermediate, ECDSA P-256), a client certificate with a SPIFFE
 * URI SAN, one expired, one of another CA and one with another SAN.
 */

async function openssl(cwd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd, stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`openssl ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** Paths of the generated files (PEM), by role. */
export interface TestCerts {
  dir: string;
  caCert: string;
  /** The intermediate and the root, for clients of the RSA server. */
  serverChain: string;
  serverKey: string;
  ecdsaCert: string;
  ecdsaKey: string;
  clientCert: string;
  clientKey: string;
  /** Client certificate + intermediate, for a chain the client sends. */
  clientChainCert: string;
  expiredCert: string;
  expiredKey: string;
  otherCaCert: string;
  otherCaClientCert: string;
  otherCaClientKey: string;
  wrongSanCert: string;
  wrongSanKey: string;
  /** A client certificate like clientCert (same SAN), revoked by `crl`. */
  revokedCert: string;
  revokedKey: string;
  /** The root CA's CRL, listing revokedCert. */
  crl: string;
}

let cached: Promise<TestCerts> | undefined;

/**
 * Makes the certificates once per test process. `deno test` runs each test file in an isolate
 * of its own inside one process, so the first file to ask makes them (RSA key generation takes
 * seconds) in a directory named after the process, and the files after it reuse that one.
 */
export function testCerts(): Promise<TestCerts> {
  return cached ??= shared();
}

/** The certificates of this process: made by an isolate before, else made now and published. */
async function shared(): Promise<TestCerts> {
  const dir = `${processTempDir()}/denvoy-tls-${processId()}`;
  try {
    await Deno.stat(`${dir}/made`);
    return paths(dir);
  } catch { /* not made yet */ }
  const mine = await Deno.makeTempDir({ prefix: "denvoy-tls-" });
  await make(mine);
  await Deno.writeTextFile(`${mine}/made`, "");
  try {
    // A directory renames only onto a missing or empty one: the first to finish publishes.
    await Deno.rename(mine, dir);
    return paths(dir);
  } catch {
    return paths(mine); // another isolate published first (deno test --parallel)
  }
}

/** The temp directory `Deno.makeTempDir` uses. */
function processTempDir(): string {
  return Deno.env.get("TMPDIR") || "/tmp";
}

/**
 * This process, unique over time: the boot, the pid and the process start time (a pid is
 * reused, and a stale directory could hold certificates that expired since).
 */
function processId(): string {
  try {
    const boot = Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim();
    // Field 22 of /proc/self/stat, counted after the parenthesised command name.
    const stat = Deno.readTextFileSync("/proc/self/stat");
    const start = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
    return `${boot.slice(0, 8)}-${Deno.pid}-${start}`;
  } catch {
    return `${Deno.pid}-${crypto.randomUUID()}`; // no /proc: a directory of this isolate's own
  }
}

async function make(dir: string): Promise<void> {
  const w = (name: string, text: string) => Deno.writeTextFile(`${dir}/${name}`, text);
  await w("ca.ext", "basicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign,cRLSign\n");
  await w(
    "server.ext",
    "subjectAltName=DNS:example.com,DNS:*.example.com,DNS:localhost,IP:127.0.0.1\n",
  );
  await w("ecdsa.ext", "subjectAltName=DNS:ecdsa.example.com\n");
  await w("client.ext", "subjectAltName=URI:spiffe://cluster.local/ns/default/sa/client\n");
  await w("wrong.ext", "subjectAltName=URI:spiffe://cluster.local/ns/default/sa/intruder\n");
  const rsa = (name: string, cn: string) =>
    openssl(dir, [
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      cn,
    ]);
  const sign = (name: string, ca: string, ext: string, days = "30") =>
    openssl(dir, [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${ca}.pem`,
      "-CAkey",
      `${ca}.key`,
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      days,
      "-extfile",
      ext,
    ]);
  const selfSigned = (name: string, cn: string) =>
    openssl(dir, [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.pem`,
      "-days",
      "30",
      "-subj",
      cn,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=keyCertSign,cRLSign",
    ]);
  await Promise.all([selfSigned("ca", "/CN=Test Root CA"), selfSigned("other", "/CN=Other CA")]);
  await rsa("inter", "/CN=Test Intermediate CA");
  await sign("inter", "ca", "ca.ext");
  await Promise.all([
    rsa("server", "/CN=example.com/O=denvoy"),
    rsa("client", "/CN=client/O=denvoy"),
    rsa("expired", "/CN=expired"),
    rsa("otherclient", "/CN=otherclient"),
    rsa("wrong", "/CN=wrong"),
    rsa("revoked", "/CN=revoked"),
    openssl(dir, [
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      "ecdsa.key",
      "-out",
      "ecdsa.csr",
      "-subj",
      "/CN=ecdsa.example.com",
    ]),
  ]);
  await sign("server", "inter", "server.ext");
  await sign("client", "ca", "client.ext");
  await sign("expired", "ca", "client.ext", "0");
  await sign("otherclient", "other", "client.ext");
  await sign("wrong", "ca", "wrong.ext");
  await sign("ecdsa", "ca", "ecdsa.ext");
  await sign("revoked", "ca", "client.ext");
  // A CRL of the root CA that revokes `revoked` (openssl ca needs its small database).
  await w(
    "ca.cnf",
    "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\ncrlnumber = crlnumber\n" +
      "default_md = sha256\ndefault_crl_days = 30\n",
  );
  await w("index.txt", "");
  await w("crlnumber", "01\n");
  const ca = ["-config", "ca.cnf", "-keyfile", "ca.key", "-cert", "ca.pem"];
  await openssl(dir, ["ca", ...ca, "-revoke", "revoked.pem"]);
  await openssl(dir, ["ca", ...ca, "-gencrl", "-out", "crl.pem"]);
  const read = (f: string) => Deno.readTextFile(`${dir}/${f}`);
  await w("server_chain.pem", (await read("server.pem")) + (await read("inter.pem")));
  await w("client_chain.pem", (await read("client.pem")) + (await read("inter.pem")));
}

/** The files `make` wrote in `dir`. */
function paths(dir: string): TestCerts {
  const p = (f: string) => `${dir}/${f}`;
  return {
    dir,
    caCert: p("ca.pem"),
    serverChain: p("server_chain.pem"),
    serverKey: p("server.key"),
    ecdsaCert: p("ecdsa.pem"),
    ecdsaKey: p("ecdsa.key"),
    clientCert: p("client.pem"),
    clientKey: p("client.key"),
    clientChainCert: p("client_chain.pem"),
    expiredCert: p("expired.pem"),
    expiredKey: p("expired.key"),
    otherCaCert: p("other.pem"),
    otherCaClientCert: p("otherclient.pem"),
    otherCaClientKey: p("otherclient.key"),
    wrongSanCert: p("wrong.pem"),
    wrongSanKey: p("wrong.key"),
    revokedCert: p("revoked.pem"),
    revokedKey: p("revoked.key"),
    crl: p("crl.pem"),
  };
}
