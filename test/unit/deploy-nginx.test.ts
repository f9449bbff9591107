import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isServerVariable } from '../../src/config/env.ts';
import { loadConfig } from '../../src/config/load.ts';

// deploy/nginx/sfu.conf is the one nginx configuration: docs/operations.md shows it whole, and
// test/e2e/tls-proxy.test.ts runs it with Debian's nginx. These checks keep the three together.
const conf = readFileSync(new URL('../../deploy/nginx/sfu.conf', import.meta.url), 'utf8');
const operations = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');

describe('deploy/nginx/sfu.conf against the docs and the code', () => {
  it('is shown whole in docs/operations.md, "TLS (reverse proxy)"', () => {
    const section = operations.slice(operations.indexOf('## TLS (reverse proxy)'), operations.indexOf('## TURN (coturn)'));
    expect(section).toContain(`\`\`\`nginx\n${conf}\`\`\``);
  });

  it('names only SFU_* variables the loader reads, and its timeouts fit the configured pings and keep-alive', () => {
    // The server's variables, and the suite's opt-in flag for the container test ("Container image").
    for (const name of operations.match(/\bSFU_[A-Z0-9_]+\b/g) ?? []) expect(isServerVariable(name) || name === 'SFU_TEST_CONTAINER', name).toBe(true);
    const cfg = loadConfig({ env: {} });
    const seconds = (directive: string) => Number(conf.match(new RegExp(`\\b${directive}\\s+(\\d+)s;`))?.[1]);
    const longestPing = Math.max(cfg.signalling.pingIntervalSeconds, cfg.safety.socket.pingIntervalSeconds);
    for (const d of ['proxy_read_timeout', 'proxy_send_timeout']) expect(seconds(d), d).toBeGreaterThanOrEqual(2 * longestPing);
    // nginx closes its idle upstream connections after 60 s (keepalive_timeout's default), before the node does.
    expect(conf).toMatch(/\bkeepalive \d+;/);
    expect(conf).not.toMatch(/^\s*keepalive_timeout\b/m);
    expect(60).toBeLessThan(cfg.http.keepAliveTimeoutSeconds);
  });

  it('proxies /rtc and /socket.io/ as WebSockets, hides the internal endpoints and logs no query string', () => {
    expect(conf).toMatch(/location = \/rtc \{ proxy_pass http:\/\/sfu_node; \}/);
    expect(conf).toMatch(/location \/socket\.io\/ \{ proxy_pass http:\/\/sfu_node; \}/);
    expect(conf).toMatch(/proxy_http_version 1\.1;/);
    expect(conf).toMatch(/proxy_set_header Upgrade\s+\$http_upgrade;/);
    expect(conf).toMatch(/location ~ \^\/\(metrics\|admin\|healthz\|readyz\)/);
    expect(conf).toMatch(/proxy_set_header X-Forwarded-For\s+\$remote_addr;/);
    const format = conf.slice(conf.indexOf('log_format'), conf.indexOf(';', conf.indexOf('log_format')));
    expect(format).not.toMatch(/\$request\b|\$args|\$query_string|\$request_uri/);
    expect(conf).toMatch(/access_log \S+ sfu_no_query;/);
  });
});
