// Tests of provisioning-auth.js, the provisioning distribution's
// viewer-request function. Run: node --test infra/cloudfront/
// (the Go test TestViewerRequestFunction runs this file).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';

const source = readFileSync(new URL('./provisioning-auth.js', import.meta.url), 'utf8');
const nodeRequire = createRequire(import.meta.url);

// credentialValue builds a KeyValueStore value as store.HashProvisioningCredential
// does (the user is the tenant path and is not part of the hash).
function credentialValue(salt, user, password) {
    const hash = createHash('sha256').update(`${salt}${password}`).digest('hex');
    return `sha256$${salt}$${hash}`;
}

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

function event(uri, authorization) {
    const headers = { host: { value: 'd111111abcdef8.cloudfront.net' }, 'user-agent': { value: 'Yealink SIP-T54W' } };
    if (authorization !== undefined) {
        headers.authorization = { value: authorization };
    }
    return { version: '1.0', context: { eventType: 'viewer-request' }, viewer: { ip: '192.0.2.10' }, request: { method: 'GET', uri, querystring: {}, headers, cookies: {} } };
}

const store = {
    acme: credentialValue('5f1c0ab3d2e4f607', 'acme', 'c0rrect-horse-battery'),
    globex: credentialValue('0011223344556677', 'globex', 'globex-secret'),
    broken: 'not-a-credential',
};

test('the right credential passes the request on, without the credential', async () => {
    const handler = load(store);
    for (const [uri, user, password] of [
        ['/acme/001565a1b2c3.cfg', 'acme', 'c0rrect-horse-battery'],
        ['/acme/y000000000000.cfg', 'acme', 'c0rrect-horse-battery'],
        ['/globex/cfg001565a1b2c3.xml', 'globex', 'globex-secret'],
        ['/globex/sub/dir/file.xml', 'globex', 'globex-secret'],
    ]) {
        const e = event(uri, basic(user, password));
        const out = await handler(e);
        assert.equal(out.statusCode, undefined, `${uri}: expected the request, got a response`);
        assert.equal(out.uri, uri);
        assert.equal(out.headers.authorization, undefined, 'the origin must not see the credential');
        assert.equal(out.headers['user-agent'].value, 'Yealink SIP-T54W');
    }
});

test('wrong, unknown and malformed credentials all get the same 401', async () => {
    const handler = load(store);
    const cases = {
        'wrong password': event('/acme/001565a1b2c3.cfg', basic('acme', 'wrong')),
        'wrong user': event('/acme/001565a1b2c3.cfg', basic('other', 'c0rrect-horse-battery')),
        'another tenant\'s credential': event('/acme/001565a1b2c3.cfg', basic('globex', 'globex-secret')),
        'right password, user not the tenant': event('/acme/001565a1b2c3.cfg', basic('phones', 'c0rrect-horse-battery')),
        'unknown tenant': event('/initech/001565a1b2c3.cfg', basic('acme', 'c0rrect-horse-battery')),
        'unknown tenant, no header': event('/initech/001565a1b2c3.cfg'),
        'no header': event('/acme/001565a1b2c3.cfg'),
        'empty header': event('/acme/001565a1b2c3.cfg', ''),
        'bearer scheme': event('/acme/001565a1b2c3.cfg', 'Bearer abc'),
        'no colon': event('/acme/001565a1b2c3.cfg', 'Basic ' + Buffer.from('acme').toString('base64')),
        'empty user': event('/acme/001565a1b2c3.cfg', basic('', 'c0rrect-horse-battery')),
        'garbage base64': event('/acme/001565a1b2c3.cfg', 'Basic %%%%'),
        'oversized header': event('/acme/001565a1b2c3.cfg', basic('acme', 'x'.repeat(600))),
        'tenant folder only': event('/acme', basic('acme', 'c0rrect-horse-battery')),
        'root': event('/', basic('acme', 'c0rrect-horse-battery')),
        'traversal segment': event('/../acme/001565a1b2c3.cfg', basic('acme', 'c0rrect-horse-battery')),
        'malformed stored value': event('/broken/001565a1b2c3.cfg', basic('acme', 'c0rrect-horse-battery')),
        'prototype key': event('/constructor/x.cfg', basic('acme', 'c0rrect-horse-battery')),
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

test('the credential check is case-sensitive and exact', async () => {
    const handler = load(store);
    for (const password of ['C0rrect-horse-battery', 'c0rrect-horse-battery ', 'c0rrect-horse-batter']) {
        const out = await handler(event('/acme/001565a1b2c3.cfg', basic('acme', password)));
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
