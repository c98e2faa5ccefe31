/**
 * Which proxy a download goes through, read the way curl reads it: an explicit proxy
 * (`--proxy`) first, else `https_proxy`/`HTTPS_PROXY` for https, `http_proxy`/`HTTP_PROXY`
 * for http, `ftp_proxy`/`FTP_PROXY` for ftp, then `all_proxy`/`ALL_PROXY`; and none for a
 * host that `no_proxy`/`NO_PROXY` names: `*` (every host), a host name or a domain suffix
 * (`example.com` and `.example.com` both match `a.example.com`), an IP address, each with an
 * optional `:port`. Lower case wins over upper case, as in curl. Pure: the caller passes
 * the environment (the server's own).
 */

export interface ProxyChoice {
  /** The proxy URL, or undefined for a direct connection. */
  readonly proxy: string | undefined;
  /** Where it came from: `--proxy`, an environment variable's name, or why there is none. */
  readonly from: string;
}

type Env = Readonly<Record<string, string | undefined>>;

export function chooseProxy(url: URL, env: Env, explicit?: string): ProxyChoice {
  const scheme = url.protocol.replace(/:$/, '');
  const noProxy = pick(env, 'no_proxy');
  if (noProxy && bypasses(url, noProxy.value)) return { proxy: undefined, from: noProxy.name };
  if (explicit) return { proxy: explicit, from: '--proxy' };
  const chosen = pick(env, `${scheme}_proxy`) ?? pick(env, 'all_proxy');
  return chosen ? { proxy: chosen.value, from: chosen.name } : { proxy: undefined, from: 'direct' };
}

function pick(env: Env, lower: string): { name: string; value: string } | undefined {
  for (const name of [lower, lower.toUpperCase()]) {
    const value = env[name]?.trim();
    if (value) return { name, value };
  }
  return undefined;
}

/** Whether a `no_proxy` list names the URL's host. */
export function bypasses(url: URL, list: string): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = url.port || (url.protocol === 'https:' ? '443' : url.protocol === 'ftp:' ? '21' : '80');
  for (const raw of list.split(/[\s,]+/)) {
    const item = raw.trim().toLowerCase();
    if (!item) continue;
    if (item === '*') return true;
    // A bare IPv6 address has colons of its own: no port then.
    const m =
      /^[0-9a-f:]+$/.test(item) && item.split(':').length > 2
        ? [item, item]
        : /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(item);
    if (!m) continue;
    const name = (m[1] as string).replace(/^\[|\]$/g, '').replace(/^\*?\./, '');
    if (m[2] && m[2] !== port) continue;
    if (host === name || host.endsWith(`.${name}`)) return true;
  }
  return false;
}

/** The proxy URL without its password, for records and messages. */
export function redactProxy(proxy: string | undefined): string | undefined {
  if (!proxy) return proxy;
  try {
    const u = new URL(proxy);
    if (!u.password) return proxy;
    u.password = '***';
    return u.toString();
  } catch {
    return proxy;
  }
}
