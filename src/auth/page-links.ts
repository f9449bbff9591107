import type { Config } from '../config/load.ts';
import type { Role } from '../domain/roles.ts';

/**
 * Ready-to-open links to the browser pages (README.md, "Links to the pages"): what the start-up
 * banner prints and what `npm run token -- --link` prints, built here and nowhere else.
 *
 * Everything goes in the URL fragment, which browsers never send to a server (tokens stay out of
 * access logs and Referer headers):
 *   participant page: <base>/#token=<room JWT>&policy=<current consent policy version>
 *   safety desk page: <base>/desk.html#token=<desk JWT>
 */

/**
 * The server's address as browsers reach it: `http.publicUrl` when set (without a trailing
 * slash), else `http://<http.host>:<port>` with a wildcard host (0.0.0.0, ::) shown as 127.0.0.1.
 */
export function baseUrl(http: Pick<Config['http'], 'publicUrl' | 'host'>, port: number): string {
  if (http.publicUrl) return http.publicUrl.replace(/\/+$/, '');
  const host = http.host === '0.0.0.0' || http.host === '::' ? '127.0.0.1' : http.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** The consent policy version a link carries: the first of `consent.policyVersions` (the current one). */
export function currentPolicy(consent: Pick<Config['consent'], 'policyVersions'>): string {
  return consent.policyVersions[0]!;
}

/** The link for a token of `role`: the desk page for a desk token, else the participant page with the current policy version. */
export function pageLink(base: string, token: string, role: Role | 'desk', consent: Pick<Config['consent'], 'policyVersions'>): string {
  const root = base.replace(/\/+$/, '');
  if (role === 'desk') return `${root}/desk.html#token=${encodeURIComponent(token)}`;
  return `${root}/#token=${encodeURIComponent(token)}&policy=${encodeURIComponent(currentPolicy(consent))}`;
}

/** Issuer and audience a minted token must carry for this server's verifier (none when not configured). */
export function issuedFor(jwt: Pick<Config['jwt'], 'issuer' | 'audience'>): { issuer?: string; audience?: string } {
  return { ...(jwt.issuer ? { issuer: jwt.issuer } : {}), ...(jwt.audience ? { audience: jwt.audience } : {}) };
}
