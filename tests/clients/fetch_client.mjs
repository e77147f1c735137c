// tests/clients/fetch_client.mjs - the proxy as an integration using
// Node's built-in fetch (undici, Node 18 or later) sees it (SPEC §11):
// its defaults (Accept-Encoding: gzip, deflate; a global pool of
// kept-alive connections; bodies decoded), the scenario of scenario.mjs.
//
// Usage: node fetch_client.mjs [PROXY_URL SANDBOX_URL CA_FILE]
//   default: $HSP_PROXY_URL $HSP_SANDBOX_URL $HSP_SANDBOX_CA
//   $HSP_SEED_FILE, $HSP_CLIENTS_IDLE: as in scenario.mjs
// fetch trusts CA_FILE through NODE_EXTRA_CA_CERTS, which Node reads at
// start: without it, this program runs itself again with it set.
// Exits 1 when a check failed.
import { spawnSync } from 'node:child_process';
import diagnostics from 'node:diagnostics_channel';
import { fileURLToPath } from 'node:url';
import { config, run, url } from './scenario.mjs';

const cfg = config(process.argv);
if (process.env.NODE_EXTRA_CA_CERTS !== cfg.ca) {
    const r = spawnSync(process.execPath,
        [fileURLToPath(import.meta.url), cfg.proxy, cfg.sandbox, cfg.ca],
        { stdio: 'inherit',
          env: { ...process.env, NODE_EXTRA_CA_CERTS: cfg.ca } });
    process.exit(r.status === null ? 1 : r.status);
}

// undici reports each connection it opens and each request's header
// block as sent, on diagnostics channels: the only window on the
// built-in fetch's pool.
const proxyHost = new URL(cfg.proxy);
const proxyPort = proxyHost.port || (proxyHost.protocol === 'https:' ? '443' : '80');
let proxyConnections = 0;
diagnostics.channel('undici:client:connected').subscribe(m => {
    const p = m.connectParams || {};
    if (p.hostname === proxyHost.hostname && String(p.port) === proxyPort) {
        proxyConnections++;
        console.log(`# connection ${proxyConnections} to the proxy opened`);
    }
});
const sent = new Map();         // request object -> headers as sent
diagnostics.channel('undici:client:sendHeaders').subscribe(m => {
    sent.set(m.request, m.headers);
});
let lastRequest = null;
diagnostics.channel('undici:request:create').subscribe(m => {
    lastRequest = m.request;
});

// parseSent(S): the header block undici wrote, as {lowercase name: value}.
function parseSent(s) {
    if (typeof s !== 'string') return null;
    const h = {};
    for (const line of s.split('\r\n')) {
        const i = line.indexOf(':');
        if (i > 0) h[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    return h;
}

const transport = {
    async request(side, method, path, { query, body, headers }) {
        const base = side === 'proxy' ? cfg.proxy : cfg.sandbox;
        lastRequest = null;
        const res = await fetch(url(base, path, query), {
            method, headers, body,
            signal: AbortSignal.timeout(cfg.timeout),
        });
        const req = lastRequest;
        const buf = Buffer.from(await res.arrayBuffer());
        const sh = req && sent.has(req) ? parseSent(sent.get(req)) : null;
        sent.clear();
        return {
            status: res.status,
            header: name => res.headers.get(name),
            body: buf,
            sentHeaders: sh,
        };
    },
    proxyConnections: () => proxyConnections,
};

const failed = await run('fetch', cfg, transport);
process.exit(failed ? 1 : 0);
