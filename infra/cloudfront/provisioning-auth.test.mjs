// Tests of provisioning-auth.js, the provisioning distribution's
// viewer-request function. Run: node --test infra/cloudfront/
// (the Go test TestViewerRequestFunction runs this file).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const source = readFileSync(new URL('./provisioning-auth.js', import.meta.url), 'utf8');
const nodeRequire = createRequire(import.meta.url);

// load evaluates the function with a stand-in for the 'cloudfront' module
// whose KeyValueStore is the given object (get rejects unknown keys like
// the real one).
function load(store) {
    const body = source.replace(/^import cf from 'cloudfront';$/m, '');
    assert.notEqual(body, source, "the function must import cf from 'cloudfront'");
    const cf = {
        kvs: () => ({
            get: async (key) => {
                if (!Object.prototype.hasOwnProperty.call(store, key)) {
                    throw new Error(`Key ${key} not found`);
                }
                return store[key];
            },
        }),
    };
    const onlyCrypto = (name) => {
        assert.equal(name, 'crypto', `require(${name}) is not a CloudFront Functions module here`);
        return nodeRequire('crypto');
    };
    return new Function('cf', 'require', 'Buffer', `${body}\nreturn handler;`)(cf, onlyCrypto, Buffer);
}

function basic(user, password) {
    return 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');
}

function event(uri, authorization, querystring) {
    const headers = { host: { value: 'd111111abcdef8.cloudfront.net' }, 'user-agent': { value: 'Yealink SIP-T54W' } };
    if (authorization !== undefined) {
        headers.authorization = { value: authorization };
    }
    return { version: '1.0', context: { eventType: 'viewer-request' }, viewer: { ip: '192.0.2.10' }, request: { method: 'GET', uri, querystring: querystring || {}, headers, cookies: {} } };
}

// Test vectors shared with internal/provision TestDevicePasswordVectors:
// DevicePassword(KEY, "acme", mac, generation).
const KEY = '5f1c0ab3d2e4f6075f1c0ab3d2e4f6075f1c0ab3d2e4f6075f1c0ab3d2e4f607';
const MAC = '001565a1b2c3';
const PW = '078dbc859011c4b290df31a9db15871f';         // generation 0
const PW_ROTATED = 'ccb0db18e733f61f4a2d43b085c6e4ed'; // generation 1
const PW_COLLEAGUE = '40b7c48e16bf78c4485110113f669c15'; // 001565a1b2c4, generation 0

const store = {
    acme: 'hmac1$' + KEY,
    globex: 'hmac1$' + 'ab'.repeat(32),
    broken: 'not-a-credential',
};

test('the device credential passes its own files and the bootstrap files, without the credential', async () => {
    const handler = load(store);
    for (const uri of ['/acme/001565a1b2c3.cfg', '/acme/001565A1B2C3.xml', '/acme/cfg001565a1b2c3.xml', '/acme/001565a1b2c3-bulkprov.cfg',
        '/acme/y000000000096.cfg', '/acme/8851-3PCC.xml', '/acme/spa504G.cfg', '/acme/snomD785.htm']) {
        const out = await handler(event(uri, basic(MAC, PW)));
        assert.equal(out.statusCode, undefined, `${uri}: expected the request, got a response`);
        assert.equal(out.uri, uri);
        assert.equal(out.headers.authorization, undefined, 'the origin must not see the credential');
        assert.equal(out.headers['user-agent'].value, 'Yealink SIP-T54W');
    }
});

test('wrong, unknown and malformed credentials, other devices\' files and bad paths all get the same 401', async () => {
    const handler = load(store);
    const cases = {
        'wrong password': event('/acme/001565a1b2c3.cfg', basic(MAC, 'wrong')),
        'colleague\'s file with own credential': event('/acme/001565a1b2c4.cfg', basic(MAC, PW)),
        'colleague\'s credential on own file': event('/acme/001565a1b2c3.cfg', basic('001565a1b2c4', PW_COLLEAGUE)),
        'own password, colleague\'s user': event('/acme/001565a1b2c4.cfg', basic('001565a1b2c4', PW)),
        'tenant as user': event('/acme/001565a1b2c3.cfg', basic('acme', PW)),
        'upper-case MAC user': event('/acme/001565a1b2c3.cfg', basic('001565A1B2C3', PW)),
        'another tenant\'s folder': event('/globex/001565a1b2c3.cfg', basic(MAC, PW)),
        'unknown tenant': event('/initech/001565a1b2c3.cfg', basic(MAC, PW)),
        'unknown tenant, no header': event('/initech/001565a1b2c3.cfg'),
        'no header': event('/acme/001565a1b2c3.cfg'),
        'empty header': event('/acme/001565a1b2c3.cfg', ''),
        'bearer scheme': event('/acme/001565a1b2c3.cfg', 'Bearer abc'),
        'no colon': event('/acme/001565a1b2c3.cfg', 'Basic ' + Buffer.from(MAC).toString('base64')),
        'empty user': event('/acme/001565a1b2c3.cfg', basic('', PW)),
        'garbage base64': event('/acme/001565a1b2c3.cfg', 'Basic %%%%'),
        'oversized header': event('/acme/001565a1b2c3.cfg', basic(MAC, 'x'.repeat(600))),
        'tenant folder only': event('/acme', basic(MAC, PW)),
        'tenant folder slash': event('/acme/', basic(MAC, PW)),
        'root': event('/', basic(MAC, PW)),
        'traversal segment': event('/../acme/001565a1b2c3.cfg', basic(MAC, PW)),
        'dot segment inside': event('/acme/../acme/001565a1b2c3.cfg', basic(MAC, PW)),
        'encoded dot-dot': event('/acme/%2e%2e/globex/001565a1b2c3.cfg', basic(MAC, PW)),
        'encoded slash': event('/acme%2F001565a1b2c3.cfg', basic(MAC, PW)),
        'double slash': event('/acme//001565a1b2c3.cfg', basic(MAC, PW)),
        'sub-folder': event('/acme/x/001565a1b2c3.cfg', basic(MAC, PW)),
        'backslash': event('/acme/..\\001565a1b2c3.cfg', basic(MAC, PW)),
        'other extension': event('/acme/001565a1b2c3.txt', basic(MAC, PW)),
        'not a phone file': event('/acme/000000000000.cfg', basic(MAC, PW)),
        'query string': event('/acme/001565a1b2c3.cfg', basic(MAC, PW), { x: { value: '1' } }),
        'malformed stored value': event('/broken/001565a1b2c3.cfg', basic(MAC, PW)),
        'prototype key': event('/constructor/x.cfg', basic(MAC, PW)),
        'decoy key password': event('/initech/001565a1b2c3.cfg', basic(MAC, '')),
    };
    let first;
    for (const [name, e] of Object.entries(cases)) {
        const out = await handler(e);
        assert.equal(out.statusCode, 401, `${name}: status`);
        if (first === undefined) {
            first = out;
            assert.match(out.headers['www-authenticate'].value, /^Basic realm="provisioning"/);
            assert.equal(out.headers['cache-control'].value, 'no-store');
        }
        assert.deepEqual(out, first, `${name}: the answer differs from the others`);
    }
});

test('rotating one device changes its password only', async () => {
    const rotated = Object.assign({}, store, { 'acme/001565a1b2c3': '1' });
    const handler = load(rotated);
    assert.equal((await handler(event('/acme/001565a1b2c3.cfg', basic(MAC, PW)))).statusCode, 401, 'old password');
    assert.equal((await handler(event('/acme/001565a1b2c3.cfg', basic(MAC, PW_ROTATED)))).statusCode, undefined, 'new password');
    assert.equal((await handler(event('/acme/001565a1b2c4.cfg', basic('001565a1b2c4', PW_COLLEAGUE)))).statusCode, undefined, 'colleague');
});

test('the same lookups for every request', async () => {
    const seen = [];
    const counting = {};
    for (const k of Object.keys(store)) {
        counting[k] = store[k];
    }
    const handler = load(new Proxy(counting, {
        getOwnPropertyDescriptor(target, key) {
            seen.push(key);
            return Reflect.getOwnPropertyDescriptor(target, key);
        },
    }));
    for (const e of [event('/acme/001565a1b2c3.cfg', basic(MAC, PW)), event('/acme/001565a1b2c9.cfg', basic('001565a1b2c9', PW)),
        event('/initech/x.cfg'), event('/../x')]) {
        seen.length = 0;
        await handler(e);
        assert.equal(seen.length, 2, `${e.request.uri}: ${seen}`);
    }
});

test('the credential check is case-sensitive and exact', async () => {
    const handler = load(store);
    for (const password of [PW.toUpperCase(), PW + ' ', PW.slice(0, 31)]) {
        const out = await handler(event('/acme/001565a1b2c3.cfg', basic(MAC, password)));
        assert.equal(out.statusCode, 401, JSON.stringify(password));
    }
});

// The distribution answers a missing file from its fallback origin with
// errors/401.txt as the body (infra/refusal.go); it must be this 401's.
test('errors/401.txt is the 401 body', async () => {
    const handler = load(store);
    const out = await handler(event('/acme/001565a1b2c3.cfg'));
    const page = readFileSync(new URL('./errors/401.txt', import.meta.url), 'utf8');
    assert.equal(page, 'Unauthorized\n');
    assert.equal(out.body.data, page);
    assert.equal(out.headers['www-authenticate'].value, 'Basic realm="provisioning", charset="UTF-8"');
    assert.equal(out.headers['content-type'].value, 'text/plain; charset=utf-8');
});

// CloudFront Functions' cloudfront-js-2.0 runtime supports ES 5.1 plus a
// listed subset of later features; this rejects what it does not list.
test('the code stays within cloudfront-js-2.0', () => {
    assert.ok(Buffer.byteLength(source) < 10240, 'functions are limited to 10 KB');
    const code = source.replace(/\/\/.*$/gm, '').replace(/'(?:[^'\\\n]|\\.)*'/g, "''");
    const unsupported = {
        'class declarations': /\bclass\s+\w/,
        'for...of': /\bfor\s*\([^)]*\bof\b/,
        'optional chaining': /\?\./,
        'nullish coalescing': /\?\?/,
        'spread': /\.\.\.\s*[\w[{(]/,
        'destructuring': /\b(const|let|var)\s*[{[]/,
        'async arrow functions or closures': /async\s*\(|async\s+\w+\s*=>/,
        'export': /\bexport\b/,
        'generators': /function\s*\*/,
        'dynamic import': /\bimport\s*\(/,
    };
    for (const [what, pattern] of Object.entries(unsupported)) {
        assert.doesNotMatch(code, pattern, `uses ${what}`);
    }
    const imports = code.match(/^import .*$/gm) || [];
    assert.deepEqual(imports, ["import cf from '';"], 'only the cloudfront module may be imported');
    assert.match(source, /^async function handler\(event\)/m, 'the entry point is a top-level handler(event)');
});
