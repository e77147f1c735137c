// tests/clients/scenario.mjs - the scenario the Node clients run (the same
// as requests_client.py's), over a transport each client provides:
//
//   t.request(side, method, path, {query, body, headers})
//       side 'proxy' or 'sandbox'; path from the root ('/api/...');
//       resolves to {status, header(name) -> string|null, body: Buffer
//       (decoded as the library hands it), sentHeaders: {lowercase name:
//       value} as sent on the wire, or null when the transport cannot tell}
//       or rejects (a reset, a refused connection, a timeout)
//   t.proxyConnections()  connections opened to the proxy so far
//
// Every answer through the proxy is compared with the sandbox's own answer
// to the same request: status, Content-Type, decoded bytes, parsed JSON.
// Then rounds after idle gaps longer than the sandbox's keep-alive timeout
// ($HSP_CLIENTS_IDLE seconds, default 6), on the same connections.
// Prints one line per check and last "N passed, N failed"; returns the
// number of failed checks.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const API = '/api/v1/appointment/s2s';
const ABORT_AFTER = 3;      // proxy requests in a row without an answer

// The proxy stopped answering: the rest would only wait for timeouts.
class Abort extends Error {}

export function config(argv) {
    const args = argv.slice(2);
    if (args.length !== 0 && args.length !== 3) {
        console.error('usage: CLIENT [PROXY_URL SANDBOX_URL CA_FILE]\n' +
            '  default: $HSP_PROXY_URL $HSP_SANDBOX_URL $HSP_SANDBOX_CA');
        process.exit(2);
    }
    const [proxy, sandbox, ca] = args.length ? args :
        [process.env.HSP_PROXY_URL, process.env.HSP_SANDBOX_URL,
         process.env.HSP_SANDBOX_CA];
    if (!proxy || !sandbox || !ca) {
        console.error('needs PROXY_URL SANDBOX_URL CA_FILE');
        process.exit(2);
    }
    return {
        proxy: proxy.replace(/\/+$/, ''),
        sandbox: sandbox.replace(/\/+$/, ''),
        ca,
        idle: Number(process.env.HSP_CLIENTS_IDLE || '6'),
        timeout: Number(process.env.HSP_CLIENTS_TIMEOUT || '20') * 1000,
        seed: process.env.HSP_SEED_FILE ||
            join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'conf',
                 'sandbox-seed.json'),
    };
}

export async function run(name, cfg, t) {
    let passed = 0;
    let failed = 0;
    let answered = 0;       // answers from the proxy
    let unanswered = 0;     // proxy requests in a row without an answer
    const check = (label, ok, detail) => {
        if (ok) {
            passed++;
            console.log('ok   ' + label);
        } else {
            failed++;
            console.log('FAIL ' + label + (detail ? ': ' + detail : ''));
        }
        return !!ok;
    };

    // The seed: a tenant with a crmSettingsId and three NANP leads, and a
    // phone that is in no tenant.
    const seed = JSON.parse(readFileSync(cfg.seed, 'utf8'));
    const tenant = seed.tenants.find(x => x.crmSettingsId &&
        x.leads.filter(l => l.phone.startsWith('+1')).length >= 3);
    const token = tenant.token;
    const crm = tenant.crmSettingsId;
    const nanp = tenant.leads.map(l => l.phone).filter(p => p.startsWith('+1'));
    const [phoneA, phoneB, phoneC] = nanp;
    const known = new Set(seed.tenants.flatMap(x => x.leads.map(l => l.phone)));
    let n = 18015550000;
    while (known.has('+' + n)) n++;
    const phoneNone = '+' + n;

    const call = async (side, method, path, opts = {}) => {
        const headers = { 'x-hs-token': token, ...(opts.headers || {}) };
        let r;
        try {
            r = await t.request(side, method, API + path,
                                { ...opts, headers });
        } catch (e) {
            check(`${method} ${path} via ${side}: an answer`, false,
                  String(e && e.cause ? `${e} (${e.cause})` : e));
            if (side === 'proxy' && ++unanswered >= ABORT_AFTER) {
                throw new Abort(`${unanswered} proxy requests in a row got ` +
                                'no answer');
            }
            return null;
        }
        if (side === 'proxy') {
            answered++;
            unanswered = 0;
        }
        return r;
    };
    const isJsonType = ct => {
        const mt = (ct || '').split(';')[0].trim().toLowerCase();
        return mt === 'application/json' || mt.endsWith('+json');
    };
    const parsed = r => {
        try {
            return JSON.parse(r.body.toString('utf8'));
        } catch {
            return undefined;
        }
    };
    const deepEqual = (a, b) => JSON.stringify(canon(a)) ===
        JSON.stringify(canon(b));
    const same = (label, rp, rs, status) => {
        if (!check(label + ': answered by proxy and sandbox', rp && rs)) {
            return false;
        }
        let ok = check(`${label}: status ${rp.status} (sandbox ${rs.status},` +
                       ` expected ${status})`,
                       rp.status === status && rs.status === status);
        ok = check(`${label}: Content-Type ${rp.header('content-type')} is JSON`,
                   isJsonType(rp.header('content-type'))) && ok;
        ok = check(`${label}: decoded body byte-identical to the sandbox's ` +
                   `(${rp.body.length} bytes)`,
                   rp.body.length > 0 && rp.body.equals(rs.body),
                   `proxy ${JSON.stringify(rp.body.toString('latin1').slice(0, 300))}` +
                   `\n     sandbox ${JSON.stringify(rs.body.toString('latin1').slice(0, 300))}`) && ok;
        const jp = parsed(rp);
        ok = check(`${label}: parsed JSON equal to the sandbox's`,
                   jp !== undefined && deepEqual(jp, parsed(rs))) && ok;
        return ok;
    };
    const xcache = (label, r, want) => {
        const got = r ? r.header('x-cache') : null;
        return check(`${label}: X-Cache ${want} (got ${got})`, got === want);
    };
    const stats = async () => {
        const r = await t.request('sandbox', 'GET', '/__sandbox/stats', {});
        if (r.status !== 200) throw new Error(`/__sandbox/stats: ${r.status}`);
        return JSON.parse(r.body.toString('utf8')).requests;
    };

    try {
        await scenario();
    } catch (e) {
        check('the scenario ran to its end', false,
              e instanceof Abort ? e.message : (e && e.stack) || String(e));
    }
    console.log(`${passed} passed, ${failed} failed`);
    return failed;

    async function scenario() {
        const stats0 = await stats();

        // Lookup of a seeded phone: MISS, then HIT, both the sandbox's bytes.
        let q = { phone: phoneA };
        let r1 = await call('proxy', 'GET', '/phone/query', { query: q });
        let s1 = await call('sandbox', 'GET', '/phone/query', { query: q });
        same('lookup MISS', r1, s1, 200);
        xcache('lookup MISS', r1, 'MISS');
        let r2 = await call('proxy', 'GET', '/phone/query', { query: q });
        same('lookup HIT', r2, s1, 200);
        xcache('lookup HIT', r2, 'HIT');
        check('lookup HIT: carries Age', r2 && r2.header('age') !== null);
        check(`lookup: the lead is ${phoneA}`, s1 && parsed(s1)?.phone === phoneA);

        // The library's default Accept-Encoding, and the body it hands over.
        const lead = s1;
        let r = await call('proxy', 'GET', '/phone/query', { query: q });
        if (check('gzip: lookup answered', r && lead)) {
            console.log('# the sandbox sent the lead with Content-Encoding ' +
                        (lead.header('content-encoding') || 'identity'));
            const ae = r.sentHeaders ? r.sentHeaders['accept-encoding'] : undefined;
            check(`gzip: request sent with the default Accept-Encoding ${ae}`,
                  typeof ae === 'string' && /\bgzip\b/i.test(ae));
            const ce = r.header('content-encoding') || 'identity';
            check(`gzip: decoded body (Content-Encoding ${ce}) is the lead's JSON`,
                  parsed(r) !== undefined && deepEqual(parsed(r), parsed(lead)) &&
                  r.body.equals(lead.body));
            check('gzip: a coded answer says Vary: Accept-Encoding',
                  ce === 'identity' ||
                  /accept-encoding/i.test(r.header('vary') || ''));
        }

        // A phone in no tenant: 404, then the cached 404.
        q = { phone: phoneNone };
        r1 = await call('proxy', 'GET', '/phone/query', { query: q });
        s1 = await call('sandbox', 'GET', '/phone/query', { query: q });
        same('404 MISS', r1, s1, 404);
        xcache('404 MISS', r1, 'MISS');
        r2 = await call('proxy', 'GET', '/phone/query', { query: q });
        same('404 HIT', r2, s1, 404);
        xcache('404 HIT', r2, 'HIT');

        // The low-latency route, by the tenant's crmSettingsId.
        q = { phone: phoneA };
        r1 = await call('proxy', 'GET', '/phone/query/' + crm, { query: q });
        s1 = await call('sandbox', 'GET', '/phone/query/' + crm, { query: q });
        same('crmSettingsId MISS', r1, s1, 200);
        xcache('crmSettingsId MISS', r1, 'MISS');
        r2 = await call('proxy', 'GET', '/phone/query/' + crm, { query: q });
        same('crmSettingsId HIT', r2, s1, 200);
        xcache('crmSettingsId HIT', r2, 'HIT');

        // Blocks (not cached by default: forwarded each time).
        r1 = await call('proxy', 'GET', '/phone/query/blocks', { query: q });
        s1 = await call('sandbox', 'GET', '/phone/query/blocks', { query: q });
        same('blocks', r1, s1, 200);
        check('blocks: has slots', s1 && Array.isArray(parsed(s1)?.slots));

        // Dispositions: MISS, then HIT.
        r1 = await call('proxy', 'GET', '/phone/query/dispositions');
        s1 = await call('sandbox', 'GET', '/phone/query/dispositions');
        same('dispositions MISS', r1, s1, 200);
        xcache('dispositions MISS', r1, 'MISS');
        r2 = await call('proxy', 'GET', '/phone/query/dispositions');
        same('dispositions HIT', r2, s1, 200);
        xcache('dispositions HIT', r2, 'HIT');
        check("dispositions: the seed's reasons", s1 &&
              deepEqual(parsed(s1)?.notQualifiedReasons, tenant.dispositions));

        // PURGE (SPEC §13), a method the library sends as it sends any
        // other: the tenant's token drops what it cached of the phone
        // (lead and variant), without asking the upstream; the next
        // lookup is a MISS again.
        q = { phone: phoneA };
        const upstreamCalls = async () =>
            Object.values(await stats()).reduce((a, b) => a + b, 0);
        const calls0 = await upstreamCalls();
        const pr = await call('proxy', 'PURGE', '/phone/query', { query: q });
        check(`PURGE: 200 {"purged":2} (got ${pr && pr.status} ` +
              `${pr && pr.body.toString('utf8').slice(0, 100)})`,
              pr && pr.status === 200 && isJsonType(pr.header('content-type')) &&
              parsed(pr)?.purged === 2);
        check('PURGE: the upstream was not asked',
              (await upstreamCalls()) === calls0);
        r1 = await call('proxy', 'GET', '/phone/query', { query: q });
        xcache('lookup after PURGE', r1, 'MISS');
        r2 = await call('proxy', 'GET', '/phone/query/' + crm, { query: q });
        xcache('crmSettingsId after PURGE', r2, 'MISS');

        // PATCH with an Idempotency-Key, its replay, and the write-through.
        let patches = 0;
        const patchRound = async (label, email) => {
            const hk = { 'Idempotency-Key': randomUUID(),
                         'Content-Type': 'application/json' };
            // Long enough fields (each within the API's 255) that the lead
            // passes 1 KiB, which a realistic upstream sends gzip-coded.
            const body = JSON.stringify({
                phone: phoneB, email,
                streetAddress: `1 ${email} Street `.repeat(20).slice(0, 250),
                city: 'Salt Lake '.repeat(20).slice(0, 120),
            });
            const p1 = await call('proxy', 'PATCH', '/phone/update',
                                  { body, headers: hk });
            if (!check(`${label}: first answer 200 (got ${p1 && p1.status})`,
                       p1 && p1.status === 200,
                       p1 ? p1.body.toString('latin1').slice(0, 300) : '')) {
                return;
            }
            patches++;
            check(`${label}: first answer is not a replay`,
                  p1.header('idempotent-replayed') !== 'true');
            check(`${label}: Content-Type JSON`,
                  isJsonType(p1.header('content-type')));
            check(`${label}: answer is the lead with the new email`,
                  parsed(p1)?.email === email && parsed(p1)?.phone === phoneB);
            check(`${label}: answer over 1 KiB (${p1.body.length} bytes)`,
                  p1.body.length >= 1024);
            const p2 = await call('proxy', 'PATCH', '/phone/update',
                                  { body, headers: hk });
            if (!p2) return;
            check(`${label}: replay says Idempotent-Replayed: true (got ` +
                  `${p2.header('idempotent-replayed')})`,
                  p2.header('idempotent-replayed') === 'true');
            check(`${label}: replay status ${p2.status} == first ${p1.status}`,
                  p2.status === p1.status);
            check(`${label}: replay body byte-identical to the first`,
                  p2.body.equals(p1.body));
            check(`${label}: replay Content-Type JSON`,
                  isJsonType(p2.header('content-type')));
            const lq = { query: { phone: phoneB } };
            const rr = await call('proxy', 'GET', '/phone/query', lq);
            const ss = await call('sandbox', 'GET', '/phone/query', lq);
            if (ss) {
                console.log('# the sandbox sent the lead with Content-Encoding ' +
                            (ss.header('content-encoding') || 'identity'));
            }
            same(`${label}: lookup after`, rr, ss, 200);
            xcache(`${label}: lookup after (written through)`, rr, 'HIT');
            check(`${label}: lookup after shows the new email`,
                  rr && parsed(rr)?.email === email);
        };

        // phoneB is cached before it is PATCHed: the write-through replaces it.
        q = { phone: phoneB };
        r1 = await call('proxy', 'GET', '/phone/query', { query: q });
        s1 = await call('sandbox', 'GET', '/phone/query', { query: q });
        same('lookup before PATCH', r1, s1, 200);
        xcache('lookup before PATCH', r1, 'MISS');
        const tag = randomUUID().slice(0, 8);
        await patchRound('PATCH', `${name}-${tag}@example.com`);

        // Idle rounds: the same connections after gaps longer than the
        // sandbox's keep-alive timeout. The proxy's pooled connection to the
        // sandbox is dead by then (realistic mode); the client's to the proxy
        // (Keep-Alive: timeout=60 by default) must still be the same one.
        const idle = async i => {
            const before = [t.proxyConnections(), answered];
            console.log(`# idle round ${i}: sleeping ${cfg.idle}s`);
            await new Promise(res => setTimeout(res, cfg.idle * 1000));
            return before;
        };
        const reused = (label, [opened, answers]) => {
            const now = t.proxyConnections();
            check(`${label}: the proxy connection was kept alive (${opened} ` +
                  `opened before the gap, ${now} after, ` +
                  `${answered - answers} answers since)`,
                  opened >= 1 && now === opened && answered > answers);
        };

        // 1: a forwarded GET (blocks are never cached by default).
        let before = await idle(1);
        q = { phone: phoneA };
        r1 = await call('proxy', 'GET', '/phone/query/blocks', { query: q });
        s1 = await call('sandbox', 'GET', '/phone/query/blocks', { query: q });
        same('idle 1: blocks', r1, s1, 200);
        reused('idle 1', before);

        // 2: a PATCH first thing after the gap (never resent, never a 502).
        before = await idle(2);
        await patchRound('idle 2: PATCH', `${name}-idle-${tag}@example.com`);
        reused('idle 2', before);

        // 3: a lookup MISS (forwarded) of another lead, then its HIT.
        before = await idle(3);
        q = { phone: phoneC };
        r1 = await call('proxy', 'GET', '/phone/query', { query: q });
        s1 = await call('sandbox', 'GET', '/phone/query', { query: q });
        same('idle 3: lookup MISS', r1, s1, 200);
        xcache('idle 3: lookup MISS', r1, 'MISS');
        reused('idle 3', before);
        r2 = await call('proxy', 'GET', '/phone/query', { query: q });
        same('idle 3: lookup HIT', r2, s1, 200);
        xcache('idle 3: lookup HIT', r2, 'HIT');

        // 4: a forced refetch (Cache-Control: no-cache goes upstream) of the
        // PATCHed lead, over 1 KiB: what a realistic upstream gzips.
        before = await idle(4);
        q = { phone: phoneB };
        r1 = await call('proxy', 'GET', '/phone/query',
                        { query: q, headers: { 'Cache-Control': 'no-cache' } });
        s1 = await call('sandbox', 'GET', '/phone/query', { query: q });
        same('idle 4: lookup no-cache', r1, s1, 200);
        reused('idle 4', before);

        // The sandbox saw each PATCH exactly once: replays and idle gaps never
        // made the proxy send one again.
        const stats1 = await stats();
        const sent = stats1.update - stats0.update;
        check(`sandbox received ${sent} PATCHes for ${patches} first answers`,
              sent === patches && patches === 2);
    }
}

// canon(V): V with object keys sorted, for a structural comparison.
function canon(v) {
    if (Array.isArray(v)) return v.map(canon);
    if (v && typeof v === 'object') {
        return Object.fromEntries(Object.keys(v).sort()
            .map(k => [k, canon(v[k])]));
    }
    return v;
}

// url(BASE, PATH, QUERY): BASE + PATH + ?QUERY, the phone's + encoded.
export function url(base, path, query) {
    const qs = query ? new URLSearchParams(query).toString() : '';
    return base + path + (qs ? '?' + qs : '');
}
