// tests/clients/http_client.mjs - the proxy as an integration using Node's
// http/https modules with keep-alive Agents sees it (SPEC §11), the way
// axios-style clients use them: `new http.Agent({keepAlive: true})`,
// Accept-Encoding: gzip, deflate sent and the answer decoded by its
// Content-Encoding; the scenario of scenario.mjs.
//
// Usage: node http_client.mjs [PROXY_URL SANDBOX_URL CA_FILE]
//   default: $HSP_PROXY_URL $HSP_SANDBOX_URL $HSP_SANDBOX_CA
//   $HSP_SEED_FILE, $HSP_CLIENTS_IDLE: as in scenario.mjs
// Exits 1 when a check failed.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import zlib from 'node:zlib';
import { config, run, url } from './scenario.mjs';

const cfg = config(process.argv);
const ca = readFileSync(cfg.ca);
const agents = {
    'http:': new http.Agent({ keepAlive: true }),
    'https:': new https.Agent({ keepAlive: true, ca }),
};
const ACCEPT_ENCODING = 'gzip, deflate';

let proxyConnections = 0;
const proxySockets = new WeakSet();

function decode(coding, raw) {
    switch ((coding || 'identity').trim().toLowerCase()) {
    case 'identity': return raw;
    case 'gzip': case 'x-gzip': return zlib.gunzipSync(raw);
    case 'deflate': return zlib.inflateSync(raw);
    default: throw new Error(`unknown Content-Encoding ${coding}`);
    }
}

const transport = {
    request(side, method, path, { query, body, headers }) {
        const base = side === 'proxy' ? cfg.proxy : cfg.sandbox;
        const u = new URL(url(base, path, query));
        const h = { 'Accept-Encoding': ACCEPT_ENCODING, ...headers };
        if (body !== undefined) h['Content-Length'] = Buffer.byteLength(body);
        return new Promise((resolve, reject) => {
            const req = (u.protocol === 'https:' ? https : http).request(u, {
                method, headers: h, agent: agents[u.protocol],
                timeout: cfg.timeout,
            }, res => {
                const chunks = [];
                res.on('data', c => chunks.push(c));
                res.on('error', reject);
                res.on('end', () => {
                    try {
                        const raw = Buffer.concat(chunks);
                        resolve({
                            status: res.statusCode,
                            header: name => {
                                const v = res.headers[name.toLowerCase()];
                                return v === undefined ? null :
                                    Array.isArray(v) ? v.join(', ') : String(v);
                            },
                            body: decode(res.headers['content-encoding'], raw),
                            sentHeaders: Object.fromEntries(Object.entries(h)
                                .map(([k, v]) => [k.toLowerCase(), String(v)])),
                        });
                    } catch (e) {
                        reject(e);
                    }
                });
            });
            req.on('socket', s => {
                if (side === 'proxy' && !proxySockets.has(s)) {
                    proxySockets.add(s);
                    proxyConnections++;
                    console.log(`# connection ${proxyConnections} to the ` +
                                'proxy opened');
                }
            });
            req.on('timeout', () => req.destroy(new Error('timeout')));
            req.on('error', reject);
            req.end(body);
        });
    },
    proxyConnections: () => proxyConnections,
};

const failed = await run('http', cfg, transport);
for (const a of Object.values(agents)) a.destroy();
process.exit(failed ? 1 : 0);
