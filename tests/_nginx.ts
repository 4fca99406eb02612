/**
 * @module Test helper: a real nginx (Debian's `nginx`, installed by `.ci/run`)
 * as the reverse proxy in front of herald, on a free loopback port, with a
 * config written to a temporary directory. It runs in the foreground as the
 * current user (`daemon off`, `master_process off`: no service, no worker
 * switching user) and `await using` stops it and removes the directory. The
 * binary is `NGINX`, else Debian's `/usr/sbin/nginx`, else `nginx` on PATH.
 */
import { freePort, spawnListening } from "./_process.ts";

function nginxBinary(): string {
  const chosen = Deno.env.get("NGINX");
  if (chosen !== undefined) return chosen;
  try {
    Deno.statSync("/usr/sbin/nginx");
    return "/usr/sbin/nginx";
  } catch {
    return "nginx";
  }
}

/** Options for {@linkcode startNginx}. */
export interface StartNginxOptions {
  /**
   * What nginx does when an upstream refuses or fails: the README's Deploy
   * settings by default, so that with two instances a restart of one is
   * invisible.
   *
   * @default {"error timeout http_502 http_503 http_504"}
   */
  nextUpstream?: string;
  /**
   * Serve HTTPS with HTTP/2 (`listen … ssl http2`, the spelling of Debian's
   * nginx 1.22) with this PEM certificate and key, instead of plain HTTP.
   *
   * @default {undefined}
   */
  tls?: { cert: string; key: string };
}

/** A running nginx; dispose of it to stop it and remove its files. */
export interface NginxProxy extends AsyncDisposable {
  /** `http://127.0.0.1:<port>` (`https://` with `tls`). */
  readonly url: string;
  /** What nginx wrote to its error log so far. */
  errors(): Promise<string>;
}

/** The proxy settings the README's Deploy section gives, around `upstreams`. */
export function nginxConfig(
  dir: string,
  port: number,
  upstreams: readonly number[],
  options: StartNginxOptions = {},
): string {
  const servers = upstreams.map((p) =>
    `    server 127.0.0.1:${p} max_fails=1 fail_timeout=2s;`
  ).join("\n");
  const next = options.nextUpstream ??
    "error timeout http_502 http_503 http_504";
  return `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream herald {
${servers}
  }
  server {
${
    options.tls === undefined
      ? `    listen 127.0.0.1:${port};`
      : `    listen 127.0.0.1:${port} ssl http2;
    ssl_certificate ${options.tls.cert};
    ssl_certificate_key ${options.tls.key};`
  }
    location / {
      proxy_pass http://herald;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_read_timeout 1h;
      proxy_next_upstream ${next};
      proxy_connect_timeout 2s;
    }
  }
}
`;
}

/** Starts nginx in front of herald on `upstreams` and waits until it listens. */
export async function startNginx(
  upstreams: readonly number[],
  options: StartNginxOptions = {},
): Promise<NginxProxy> {
  const dir = await Deno.makeTempDir({ prefix: "herald_nginx_" });
  const port = freePort();
  await Deno.writeTextFile(
    `${dir}/nginx.conf`,
    nginxConfig(dir, port, upstreams, options),
  );
  const { stop } = await spawnListening(
    "nginx",
    new Deno.Command(nginxBinary(), {
      // -e: the log of start-up itself, before the config names one.
      args: ["-p", dir, "-c", `${dir}/nginx.conf`, "-e", `${dir}/error.log`],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }),
    port,
    dir,
    () => Deno.readTextFile(`${dir}/error.log`).catch(() => ""),
  );
  return {
    url: `${options.tls === undefined ? "http" : "https"}://127.0.0.1:${port}`,
    errors: () => Deno.readTextFile(`${dir}/error.log`).catch(() => ""),
    [Symbol.asyncDispose]: stop,
  };
}
