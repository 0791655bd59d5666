// bulkprov provisioning: viewer-request check of each phone's own HTTP Basic
// credential (CloudFront Functions, runtime cloudfront-js-2.0).
//
// URL:   https://<distribution>/<tenant provisioning path>/<file>
// User:  the phone's MAC, 12 lowercase hex digits.
// Password: the first 32 hex digits of
//          HMAC-SHA256(key, "bulkprov-device-v1\n" + path + "\n" + mac + "\n" + generation)
//        as internal/provision DevicePassword computes it.
// Store: KeyValueStore key <path>       = "hmac1$<tenant device key, 64 hex digits>"
//                      key <path>/<mac> = the device's credential generation, only
//                                         once rotated (absent = 0)
//        (bulkprov phone kvs prints these entries.)
//
// A phone may read its own files (<mac>.cfg, <mac>-bulkprov.cfg, cfg<mac>.xml,
// <mac>.xml, <MAC>.xml) and the tenant's bootstrap files, nothing else: a
// credential read off one phone opens only that phone's file. The path must
// be exactly /<folder>/<file> (no dot segments, no encoded characters, no
// sub-folders, no query), the pattern the local server (internal/provision
// server.go) applies. Unknown tenants, malformed headers, wrong credentials
// and other devices' files all get the same 401 after the same work. A missing
// file (S3 answers 403 through OAC) gets it too: the distribution's S3 origin
// fails over to a function that answers this 401 with errors/401.txt as the
// body (infra/refusal.go).
import cf from 'cloudfront';
const crypto = require('crypto');

const kvs = cf.kvs();
const PATH = /^\/([a-z0-9][a-z0-9-]{0,62})\/([A-Za-z0-9][A-Za-z0-9_-]{0,47}\.(?:cfg|xml|htm))$/;
const MAC = /^[0-9a-f]{12}$/;
const DEVICE_FILE = /^(cfg)?([0-9A-Fa-f]{12})(-bulkprov)?\.(cfg|xml)$/;
const BOOTSTRAP = /^(y0{9}[0-9]{3}\.cfg|[0-9]{4}-3PCC\.xml|spa[0-9]{3}[A-Z]?\.cfg|snom[A-Z][0-9]{3}\.htm)$/;
const DECOY_KEY = '0000000000000000000000000000000000000000000000000000000000000000';

function unauthorized() {
    return {
        statusCode: 401,
        statusDescription: 'Unauthorized',
        headers: {
            'www-authenticate': { value: 'Basic realm="provisioning", charset="UTF-8"' },
            'cache-control': { value: 'no-store' },
            'content-type': { value: 'text/plain; charset=utf-8' }
        },
        body: { encoding: 'text', data: 'Unauthorized\n' }
    };
}

// sameString compares in time independent of where the strings differ.
function sameString(a, b) {
    let diff = a.length ^ b.length;
    for (let i = 0; i < a.length && i < b.length; i++) {
        diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
    }
    return diff === 0;
}

// credential returns [user, password] from an Authorization header, or null.
function credential(headers) {
    const h = headers['authorization'];
    if (!h || h.value.length > 512 || h.value.slice(0, 6).toLowerCase() !== 'basic ') {
        return null;
    }
    const decoded = Buffer.from(h.value.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 1) {
        return null;
    }
    return [decoded.slice(0, colon), decoded.slice(colon + 1)];
}

// fileAllowed: the device's own files and the bootstrap files.
function fileAllowed(file, mac) {
    if (BOOTSTRAP.test(file)) {
        return true;
    }
    const m = DEVICE_FILE.exec(file);
    if (!m || m[2].toLowerCase() !== mac) {
        return false;
    }
    return (!m[1] || m[4] === 'xml') && (!m[3] || m[4] === 'cfg');
}

async function kvsGet(key) {
    try {
        return String(await kvs.get(key));
    } catch (err) {
        return '';
    }
}

async function handler(event) {
    const request = event.request;
    const m = PATH.exec(request.uri);
    const pathOK = m !== null && Object.keys(request.querystring || {}).length === 0;
    const folder = pathOK ? m[1] : '-';
    const file = pathOK ? m[2] : '';
    const given = credential(request.headers);
    const user = given ? given[0] : '';
    const password = given ? given[1] : '';
    const userOK = MAC.test(user);
    const mac = userOK ? user : '000000000000';

    // Same work for every request: two lookups, one HMAC, one compare.
    const stored = await kvsGet(folder);
    const generation = await kvsGet(folder + '/' + mac);
    const keyOK = stored.length === 70 && stored.slice(0, 6) === 'hmac1$';
    const key = keyOK ? stored.slice(6) : DECOY_KEY;
    const gen = /^[0-9]{1,10}$/.test(generation) ? generation : '0';
    const expected = crypto.createHmac('sha256', key)
        .update('bulkprov-device-v1\n' + folder + '\n' + mac + '\n' + gen)
        .digest('hex').slice(0, 32);
    const passwordOK = sameString(expected, password);
    if (!given || !pathOK || !userOK || !keyOK || !passwordOK || !fileAllowed(file, mac)) {
        return unauthorized();
    }
    // The origin must not see the phone's credential.
    delete request.headers['authorization'];
    return request;
}
