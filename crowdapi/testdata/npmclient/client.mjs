// Drives crowdgate's Crowd REST API through independent Crowd clients published on npm:
//
//   atlassian-crowd-client 2.0.0   (Promise-based, JSON; "v2" below)
//   atlassian-crowd-patched 0.5.1  (callback-based, JSON; the older node-atlassian-crowd; "patched")
//
// Every call goes through the library's own API, never raw HTTP, so what is exercised is exactly
// what those libraries send and how they read the answers.
//
// Usage:
//   node client.mjs --base http://127.0.0.1:PORT/crowd --app jira --password jira-secret [--clients v2,patched]
// or the environment: CROWD_BASE_URL, CROWD_APP_NAME, CROWD_APP_PASSWORD, CROWD_CLIENTS.
//
// Output: one JSON line per step on stdout:
//   {"client":"...","step":"...","ok":true|false,"detail":...[,"known_issue":"id"][,"not_reproduced":"id"]}
// and a last line {"client":"*","step":"done","ok":true,"detail":{...}} when every step passed.
// The first unexpected result ends the run with exit status 1 (2 for a usage error).
//
// A step that hits a crowdgate incompatibility listed in FIXED_ISSUES below is reported with
// ok:true and "known_issue" set, after the server-side effect has been verified another way, so the
// rest of the scenario still runs; crowdapi/npmclient_test.go decides what to do with those.

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';

const require = createRequire(import.meta.url);

// Crowd's own user attributes (lastAuthenticated, passwordLastChanged, ...) come with every user it
// knows them for, as real Crowd's do; the assertions are about the attributes the clients set.
const own = new Set(['lastAuthenticated', 'invalidPasswordAttempts', 'requiresPasswordChange', 'passwordLastChanged', 'lastActive']);
const mine = (a) => Array.isArray(a) ? a.filter((x) => !own.has(x.name)) : Object.fromEntries(Object.entries(a).filter(([k]) => !own.has(k)));

const STEP_TIMEOUT_MS = 10000;

// Incompatibilities of crowdgate these clients exposed, all fixed (see crowdapi/npmclient_test.go).
export const FIXED_ISSUES = {
  'membership-201-without-content-type':
    'POST /user/group/direct, /group/user/direct, /group/child-group/direct and /group/parent-group/direct ' +
    'answer 201 with no body and no Content-Type; real Crowd (Jersey) labels the 201 with the negotiated ' +
    'type (application/json here), and both npm clients reject a response without a JSON Content-Type ' +
    '(atlassian-crowd-client: INVALID_RESPONSE; atlassian-crowd-patched: TypeError on the missing header).',
};

// ---------------------------------------------------------------------------------------------
// arguments

function parseArgs(argv) {
  const opts = {
    base: process.env.CROWD_BASE_URL,
    app: process.env.CROWD_APP_NAME,
    password: process.env.CROWD_APP_PASSWORD,
    clients: process.env.CROWD_CLIENTS || 'v2,patched',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const m = /^--(base|app|password|clients)(?:=(.*))?$/.exec(a);
    if (!m) usage(`unknown argument ${a}`);
    opts[m[1]] = m[2] !== undefined ? m[2] : argv[++i];
  }
  if (!opts.base || !opts.app || opts.password === undefined) usage('base URL, application name and password are required');
  // Both libraries append "rest/usermanagement/1" to the base path; the older one needs the slash.
  if (!opts.base.endsWith('/')) opts.base += '/';
  opts.clients = opts.clients.split(',').map((s) => s.trim()).filter(Boolean);
  for (const c of opts.clients) if (!['v2', 'patched'].includes(c)) usage(`unknown client ${c}`);
  return opts;
}

function usage(msg) {
  process.stderr.write(`client.mjs: ${msg}\nusage: node client.mjs --base URL --app NAME --password PW [--clients v2,patched]\n`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// step runner

class Abort extends Error {}

class KnownIssue {
  constructor(id, detail) {
    if (!FIXED_ISSUES[id]) throw new Error(`unlisted known issue ${id}`);
    this.id = id;
    this.detail = detail;
  }
}

// NotReproduced marks a tolerated call that succeeded: the known issue may have been fixed.
class NotReproduced {
  constructor(id, detail) {
    this.id = id;
    this.detail = detail;
  }
}

const knownSeen = new Set();
let stepCount = 0;
let pendingReject = null; // rejects the running step when a library throws asynchronously
let pendingCall = null; // rejects the running callback-style library call, in preference

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function describe(e) {
  if (e instanceof assert.AssertionError) {
    return { error: 'assertion', message: e.message.split('\n')[0], actual: e.actual, expected: e.expected };
  }
  if (e && typeof e === 'object') {
    const d = { error: e.constructor?.name || 'Error', message: e.message };
    if (e.type !== undefined) d.type = e.type;
    if (e.code !== undefined) d.code = e.code;
    if (e.unexpected !== undefined) d.unexpected = e.unexpected;
    return d;
  }
  return { error: String(e) };
}

async function step(client, name, fn) {
  stepCount++;
  let timer;
  try {
    const result = await new Promise((resolve, reject) => {
      pendingReject = reject;
      timer = setTimeout(() => reject(new Error(`no answer within ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
      Promise.resolve().then(fn).then(resolve, reject);
    });
    if (result instanceof KnownIssue) {
      knownSeen.add(result.id);
      emit({ client, step: name, ok: true, known_issue: result.id, detail: result.detail ?? null });
    } else if (result instanceof NotReproduced) {
      emit({ client, step: name, ok: true, not_reproduced: result.id, detail: result.detail ?? null });
    } else {
      emit({ client, step: name, ok: true, detail: result ?? null });
    }
    return result;
  } catch (e) {
    emit({ client, step: name, ok: false, detail: describe(e) });
    throw new Abort(name);
  } finally {
    clearTimeout(timer);
    pendingReject = null;
  }
}

// expectError resolves to {type, message} when p rejects with error.type === type.
async function expectError(p, type) {
  let value;
  try {
    value = await p;
  } catch (e) {
    if (e && e.type === type) return { type: e.type, message: e.message };
    const err = new Error(`expected a ${type} error, got ${e && e.type ? e.type : 'another error'}: ${e && e.message}`);
    err.type = e && e.type;
    throw err;
  }
  const err = new Error(`expected a ${type} error, but the call succeeded`);
  err.unexpected = value === undefined ? null : value;
  throw err;
}

// tolerate runs a membership-creating call and proves its effect with verify(). It once tolerated
// crowdgate's 201 answers without a Content-Type (issue id kept for the record); that is fixed, so
// any failure of the call now fails the step.
async function tolerate(id, call, isSymptom, verify) {
  await call();
  return await verify();
}

function withinSeconds(date, seconds) {
  return date instanceof Date && !Number.isNaN(date.getTime()) && Math.abs(Date.now() - date.getTime()) < seconds * 1000;
}

// ---------------------------------------------------------------------------------------------
// atlassian-crowd-client 2.0.0

async function runV2(opts, suffix) {
  const C = 'atlassian-crowd-client@2.0.0';
  const CrowdClient = require('atlassian-crowd-client');
  const User = require('atlassian-crowd-client/lib/models/user');
  const Group = require('atlassian-crowd-client/lib/models/group');
  const Attributes = require('atlassian-crowd-client/lib/models/attributes');
  const Session = require('atlassian-crowd-client/lib/models/session');
  const ValidationFactors = require('atlassian-crowd-client/lib/models/validation-factors');
  const settings = { baseUrl: opts.base, application: { name: opts.app, password: opts.password } };
  const crowd = new CrowdClient(settings);

  // Names with characters that need query encoding ('+', '@', '.'), and mixed case.
  const username = `Alice.Npm+${suffix}`;
  const renamed = `alice.renamed-${suffix}`;
  const email = `alice.${suffix}@example.com`;
  const email2 = `alicia.${suffix}@example.org`;
  const pw1 = `Pw-one-${suffix}`;
  const pw2 = `Pw-two-${suffix}`;
  const group = `npm-devs-${suffix}`;
  const parent = `npm-staff-${suffix}`;
  const membershipSymptom = (e) => e && e.type === 'INVALID_RESPONSE';
  const KI = 'membership-201-without-content-type';

  const s = (name, fn) => step(C, name, fn);

  await s('config.cookie', async () => {
    const cc = await crowd.config.cookie();
    assert.equal(cc.name, 'crowd.token_key');
    assert.equal(typeof cc.secure, 'boolean');
    return cc;
  });

  await s('application with a wrong password is refused', async () => {
    const bad = new CrowdClient({ baseUrl: opts.base, application: { name: opts.app, password: opts.password + '-wrong' } });
    return expectError(bad.config.cookie(), 'APPLICATION_ACCESS_DENIED');
  });

  // users -------------------------------------------------------------------------------------
  await s('user.create', async () => {
    const u = await crowd.user.create(new User('Alice', 'Npm', 'Alice Npm', email, username, pw1));
    assert.ok(u instanceof User);
    assert.deepEqual(
      { ...u, attributes: mine(u.attributes) },
      { firstname: 'Alice', lastname: 'Npm', displayname: 'Alice Npm', email, username, password: undefined, active: true, attributes: [] },
    );
    return { username: u.username, email: u.email };
  });

  await s('user.create duplicate is INVALID_USER', () =>
    expectError(crowd.user.create(new User('A', 'B', 'A B', email, username.toLowerCase(), pw1)), 'INVALID_USER'));

  await s('user.get', async () => {
    const u = await crowd.user.get(username);
    assert.equal(u.username, username);
    assert.equal(u.email, email);
    assert.equal(u.displayname, 'Alice Npm');
    assert.equal(u.active, true);
    return { username: u.username };
  });

  await s('user.get is case-insensitive and answers the canonical name', async () => {
    const u = await crowd.user.get(username.toUpperCase());
    assert.equal(u.username, username);
    return { asked: username.toUpperCase(), got: u.username };
  });

  await s('user.get with attributes (none set yet; Crowd\'s own are there)', async () => {
    const u = await crowd.user.get(username, true);
    assert.deepEqual(mine(u.attributes), {});
    assert.ok('passwordLastChanged' in u.attributes && 'requiresPasswordChange' in u.attributes, JSON.stringify(u.attributes));
    return { attributes: u.attributes };
  });

  await s('user.get unknown is USER_NOT_FOUND', () => expectError(crowd.user.get(`nobody-${suffix}`), 'USER_NOT_FOUND'));

  await s('authentication.authenticate', async () => {
    const u = await crowd.authentication.authenticate(username, pw1);
    assert.equal(u.username, username);
    assert.equal(u.email, email);
    return { username: u.username };
  });

  await s('authentication.authenticate wrong password is INVALID_USER_AUTHENTICATION', () =>
    expectError(crowd.authentication.authenticate(username, pw1 + 'x'), 'INVALID_USER_AUTHENTICATION'));

  await s('authentication.authenticate unknown user is USER_NOT_FOUND', () =>
    expectError(crowd.authentication.authenticate(`nobody-${suffix}`, pw1), 'USER_NOT_FOUND'));

  await s('user.update', async () => {
    const u = await crowd.user.update(username, new User('Alicia', 'Npm-Smith', 'Alicia Npm-Smith', email2, username));
    assert.deepEqual(
      [u.username, u.firstname, u.lastname, u.displayname, u.email, u.active],
      [username, 'Alicia', 'Npm-Smith', 'Alicia Npm-Smith', email2, true],
    );
    return { displayname: u.displayname, email: u.email };
  });

  await s('user.update keeps the password', async () => {
    const u = await crowd.authentication.authenticate(username, pw1);
    assert.equal(u.username, username);
    return null;
  });

  // user attributes (the library JSON-encodes each value into a single Crowd value)
  await s('user.attributes.set', async () => {
    const got = await crowd.user.attributes.set(username, new Attributes({ colour: 'blue', tags: ['a', 'b'], obj: { n: 1 } }));
    assert.deepEqual(mine(got.attributes), { colour: 'blue', tags: ['a', 'b'], obj: { n: 1 } });
    return got.attributes;
  });

  await s('user.attributes.set replaces only the named attributes', async () => {
    const got = await crowd.user.attributes.set(username, new Attributes({ colour: 'green' }));
    assert.deepEqual(mine(got.attributes), { colour: 'green', tags: ['a', 'b'], obj: { n: 1 } });
    return got.attributes;
  });

  await s('user.get with attributes', async () => {
    const u = await crowd.user.get(username, true);
    assert.deepEqual(mine(u.attributes), { colour: 'green', tags: ['a', 'b'], obj: { n: 1 } });
    return u.attributes;
  });

  await s('user.attributes.remove', async () => {
    await crowd.user.attributes.remove(username, 'tags');
    const got = await crowd.user.attributes.list(username);
    assert.deepEqual(mine(got.attributes), { colour: 'green', obj: { n: 1 } });
    return got.attributes;
  });

  await s('user.attributes.remove of a missing attribute succeeds', async () => {
    await crowd.user.attributes.remove(username, 'never-set');
    return null;
  });

  // groups ------------------------------------------------------------------------------------
  await s('group.create', async () => {
    const g = await crowd.group.create(new Group(group, 'Node client developers'));
    assert.ok(g instanceof Group);
    assert.deepEqual([g.groupname, g.description, g.active], [group, 'Node client developers', true]);
    return { groupname: g.groupname };
  });

  await s('group.create duplicate is INVALID_GROUP', () =>
    expectError(crowd.group.create(new Group(group.toUpperCase(), 'again')), 'INVALID_GROUP'));

  await s('group.create parent', async () => {
    const g = await crowd.group.create(new Group(parent, ''));
    assert.deepEqual([g.groupname, g.description, g.active], [parent, '', true]);
    return { groupname: g.groupname };
  });

  await s('group.update', async () => {
    const g = await crowd.group.update(group, new Group(group, 'Updated description'));
    assert.deepEqual([g.groupname, g.description, g.active], [group, 'Updated description', true]);
    return { description: g.description };
  });

  await s('group.get', async () => {
    const g = await crowd.group.get(group);
    assert.deepEqual([g.groupname, g.description, g.active], [group, 'Updated description', true]);
    return { groupname: g.groupname };
  });

  await s('group.get unknown is GROUP_NOT_FOUND', () => expectError(crowd.group.get(`nogroup-${suffix}`), 'GROUP_NOT_FOUND'));

  await s('group.attributes.set/list/remove', async () => {
    const got = await crowd.group.attributes.set(group, new Attributes({ team: 'core', size: 3 }));
    assert.deepEqual(mine(got.attributes), { team: 'core', size: 3 });
    await crowd.group.attributes.remove(group, 'size');
    const after = await crowd.group.attributes.list(group);
    assert.deepEqual(after.attributes, { team: 'core' });
    return after.attributes;
  });

  // memberships -------------------------------------------------------------------------------
  await s('group.children.add (nest group in parent)', () =>
    tolerate(KI, () => crowd.group.children.add(parent, group), membershipSymptom, async () => {
      const names = await crowd.group.children.list(parent);
      assert.deepEqual(names, [group]);
      return { children: names };
    }));

  await s('user.groups.add', () =>
    tolerate(KI, () => crowd.user.groups.add(username, group), membershipSymptom, async () => {
      const names = await crowd.user.groups.list(username);
      assert.deepEqual(names, [group]);
      return { groups: names };
    }));

  await s('user.groups.add again is MEMBERSHIP_ALREADY_EXISTS', () =>
    expectError(crowd.user.groups.add(username, group), 'MEMBERSHIP_ALREADY_EXISTS'));

  await s('user.groups.add unknown group is GROUP_NOT_FOUND', () =>
    expectError(crowd.user.groups.add(username, `nogroup-${suffix}`), 'GROUP_NOT_FOUND'));

  await s('user.groups.list direct', async () => {
    const names = await crowd.user.groups.list(username);
    assert.deepEqual(names, [group]);
    return names;
  });

  await s('user.groups.list nested', async () => {
    const names = await crowd.user.groups.list(username, true);
    assert.deepEqual([...names].sort(), [group, parent].sort());
    return names;
  });

  await s('user.groups.get direct member', async () => {
    assert.equal(await crowd.user.groups.get(username, group), group);
    return null;
  });

  await s('user.groups.get direct non-member is MEMBERSHIP_NOT_FOUND', () =>
    expectError(crowd.user.groups.get(username, parent), 'MEMBERSHIP_NOT_FOUND'));

  await s('user.groups.get nested member', async () => {
    assert.equal(await crowd.user.groups.get(username, parent, true), parent);
    return null;
  });

  await s('group.users.list direct', async () => {
    const names = await crowd.group.users.list(group);
    assert.deepEqual(names, [username]);
    return names;
  });

  await s('group.users.list direct of parent is empty', async () => {
    const names = await crowd.group.users.list(parent);
    assert.deepEqual(names, []);
    return names;
  });

  await s('group.users.list nested', async () => {
    const names = await crowd.group.users.list(parent, true);
    assert.deepEqual(names, [username]);
    return names;
  });

  await s('group.users.list expanded to users', async () => {
    const users = await crowd.group.users.list(group, false, 0, 1000, true);
    assert.equal(users.length, 1);
    assert.ok(users[0] instanceof User);
    assert.deepEqual([users[0].username, users[0].email, users[0].active], [username, email2, true]);
    return users.map((u) => ({ username: u.username, email: u.email }));
  });

  await s('group.users.get direct member', async () => {
    assert.equal(await crowd.group.users.get(group, username), username);
    return null;
  });

  await s('group.users.get direct non-member is MEMBERSHIP_NOT_FOUND', () =>
    expectError(crowd.group.users.get(parent, username), 'MEMBERSHIP_NOT_FOUND'));

  await s('group.users.get nested member', async () => {
    assert.equal(await crowd.group.users.get(parent, username, true), username);
    return null;
  });

  await s('group.children.list / get', async () => {
    assert.deepEqual(await crowd.group.children.list(parent), [group]);
    assert.deepEqual(await crowd.group.children.list(parent, true), [group]);
    const child = await crowd.group.children.get(parent, group);
    assert.equal(child.name, group);
    return null;
  });

  await s('group.parents.list / get', async () => {
    assert.deepEqual(await crowd.group.parents.list(group), [parent]);
    assert.deepEqual(await crowd.group.parents.list(group, true), [parent]);
    assert.equal(await crowd.group.parents.get(group, parent), parent);
    assert.equal(await crowd.group.parents.get(group, parent, true), parent);
    return null;
  });

  await s('group.membership (XML document)', async () => {
    const xml = await crowd.group.membership();
    assert.equal(typeof xml, 'string');
    const esc = (x) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const block = (g) => new RegExp(`<membership group="${esc(g)}">([\\s\\S]*?)</membership>`).exec(xml);
    const mg = block(group);
    const mp = block(parent);
    assert.ok(mg, `no <membership group="${group}"> in ${xml}`);
    assert.ok(mp, `no <membership group="${parent}"> in ${xml}`);
    assert.match(mg[1], new RegExp(`<user name="${esc(username)}"\\s*/>`));
    assert.match(mp[1], new RegExp(`<group name="${esc(group)}"\\s*/>`));
    return { bytes: xml.length };
  });

  // search (CQL through GET /search) ---------------------------------------------------------
  await s('search.user by email', async () => {
    const names = await crowd.search.user(`email = "${email2}"`);
    assert.deepEqual(names, [username]);
    return names;
  });

  await s('search.user by name prefix, expanded', async () => {
    const users = await crowd.search.user(`name = "alice.npm*"`, true);
    assert.deepEqual(users.map((u) => [u.username, u.email]), [[username, email2]]);
    return users.map((u) => u.username);
  });

  await s('search.user with no match', async () => {
    const names = await crowd.search.user(`email = "nobody.${suffix}@example.com"`);
    assert.deepEqual(names, []);
    return names;
  });

  await s('search.group by name', async () => {
    const names = await crowd.search.group(`name = "${group}"`);
    assert.deepEqual(names, [group]);
    const groups = await crowd.search.group(`name = "*-${suffix}*"`, true);
    assert.deepEqual(groups.map((g) => g.groupname).sort(), [group, parent].sort());
    return names;
  });

  // SSO sessions ------------------------------------------------------------------------------
  const factors = new ValidationFactors({ remote_address: '127.0.0.1' });
  let session;
  await s('session.create', async () => {
    session = await crowd.session.create(username, pw1, factors);
    assert.ok(session instanceof Session);
    assert.match(session.token, /^[A-Za-z0-9_-]{16,}$/);
    assert.ok(withinSeconds(session.createdAt, 120), `created-date ${session.createdAt}`);
    const ttl = (session.expiresAt - session.createdAt) / 1000;
    assert.ok(ttl > 0 && ttl <= 600 + 5, `session lifetime ${ttl}s, expected at most the requested 600s`);
    return { token_length: session.token.length, ttl_seconds: ttl };
  });

  await s('session.create wrong password is INVALID_USER_AUTHENTICATION', () =>
    expectError(crowd.session.create(username, 'wrong', factors), 'INVALID_USER_AUTHENTICATION'));

  await s('session.validate', async () => {
    const v = await crowd.session.validate(session.token, factors);
    assert.equal(v.token, session.token);
    assert.ok(v.expiresAt >= session.expiresAt, 'validation must not shorten the session');
    return { token_length: v.token.length };
  });

  await s('session.getUser', async () => {
    const u = await crowd.session.getUser(session.token);
    assert.equal(u.username, username);
    return { username: u.username };
  });

  await s('session.remove', async () => {
    await crowd.session.remove(session.token);
    return null;
  });

  await s('session.validate after remove is INVALID_SSO_TOKEN', () =>
    expectError(crowd.session.validate(session.token, factors), 'INVALID_SSO_TOKEN'));

  await s('session.getUser after remove is INVALID_SSO_TOKEN', () =>
    expectError(crowd.session.getUser(session.token), 'INVALID_SSO_TOKEN'));

  await s('session.remove of an unknown token succeeds', async () => {
    await crowd.session.remove(session.token);
    return null;
  });

  await s('session.createUnvalidated and removeAll', async () => {
    const a = await crowd.session.createUnvalidated(username);
    const b = await crowd.session.create(username, pw1, new ValidationFactors({ remote_address: '127.0.0.2' }));
    assert.notEqual(a.token, b.token);
    await crowd.session.removeAll(username, b.token);
    await expectError(crowd.session.validate(a.token), 'INVALID_SSO_TOKEN');
    const still = await crowd.session.validate(b.token, new ValidationFactors({ remote_address: '127.0.0.2' }));
    assert.equal(still.token, b.token);
    await crowd.session.removeAll(username);
    await expectError(crowd.session.validate(b.token), 'INVALID_SSO_TOKEN');
    return null;
  });

  // password ----------------------------------------------------------------------------------
  await s('user.password.set', async () => {
    await crowd.user.password.set(username, pw2);
    return null;
  });

  await s('authenticate with the new password', async () => {
    const u = await crowd.authentication.authenticate(username, pw2);
    assert.equal(u.username, username);
    return null;
  });

  await s('authenticate with the old password is INVALID_USER_AUTHENTICATION', () =>
    expectError(crowd.authentication.authenticate(username, pw1), 'INVALID_USER_AUTHENTICATION'));

  await s('user.password.reset (mail)', async () => {
    await crowd.user.password.reset(username);
    return null;
  });

  await s('user.username.request (mail)', async () => {
    await crowd.user.username.request(email2);
    return null;
  });

  // rename ------------------------------------------------------------------------------------
  await s('user.rename', async () => {
    const r = await crowd.user.rename(username, renamed);
    assert.equal(r && r.name, renamed);
    const u = await crowd.user.get(renamed);
    assert.deepEqual([u.username, u.email], [renamed, email2]);
    await expectError(crowd.user.get(username), 'USER_NOT_FOUND');
    assert.deepEqual(await crowd.user.groups.list(renamed), [group]);
    return { from: username, to: renamed };
  });

  // removal -----------------------------------------------------------------------------------
  await s('user.groups.remove', async () => {
    await crowd.user.groups.remove(renamed, group);
    assert.deepEqual(await crowd.user.groups.list(renamed), []);
    assert.deepEqual(await crowd.user.groups.list(renamed, true), []);
    return null;
  });

  await s('user.groups.remove again is MEMBERSHIP_NOT_FOUND', () =>
    expectError(crowd.user.groups.remove(renamed, group), 'MEMBERSHIP_NOT_FOUND'));

  await s('group.users.add', () =>
    tolerate(KI, () => crowd.group.users.add(group, renamed), membershipSymptom, async () => {
      const names = await crowd.group.users.list(group);
      assert.deepEqual(names, [renamed]);
      return { users: names };
    }));

  await s('group.users.remove', async () => {
    await crowd.group.users.remove(group, renamed);
    assert.deepEqual(await crowd.group.users.list(group), []);
    return null;
  });

  await s('group.children.remove', async () => {
    await crowd.group.children.remove(parent, group);
    assert.deepEqual(await crowd.group.children.list(parent), []);
    return null;
  });

  await s('group.parents.add', () =>
    tolerate(KI, () => crowd.group.parents.add(group, parent), membershipSymptom, async () => {
      const names = await crowd.group.parents.list(group);
      assert.deepEqual(names, [parent]);
      return { parents: names };
    }));

  await s('group.remove', async () => {
    await crowd.group.remove(group);
    await crowd.group.remove(parent);
    await expectError(crowd.group.get(group), 'GROUP_NOT_FOUND');
    await expectError(crowd.group.get(parent), 'GROUP_NOT_FOUND');
    return null;
  });

  await s('group.remove unknown is GROUP_NOT_FOUND', () => expectError(crowd.group.remove(group), 'GROUP_NOT_FOUND'));

  await s('user.remove', async () => {
    await crowd.user.remove(renamed);
    await expectError(crowd.user.get(renamed), 'USER_NOT_FOUND');
    return null;
  });

  await s('user.remove unknown is USER_NOT_FOUND', () => expectError(crowd.user.remove(renamed), 'USER_NOT_FOUND'));
}

// ---------------------------------------------------------------------------------------------
// atlassian-crowd-patched 0.5.1 (callback API; keeps its settings in globals, so one instance)

async function runPatched(opts, suffix) {
  const C = 'atlassian-crowd-patched@0.5.1';
  const AtlassianCrowd = require('atlassian-crowd-patched');
  // This library predates keep-alive agents (node >= 19 keeps connections open by default): its
  // user.attributes() writes a body on a GET and removeAttribute() writes "{}" after declaring
  // Content-Length: 0, and those unframed bytes would be read by the server as the start of the
  // next request on the connection. Run it one connection per request, as it ran when written.
  const http = require('node:http');
  const agent = http.globalAgent;
  http.globalAgent = new http.Agent({ keepAlive: false });
  try {
    await runPatchedScenario(opts, suffix, C, AtlassianCrowd);
  } finally {
    http.globalAgent = agent;
  }
}

async function runPatchedScenario(opts, suffix, C, AtlassianCrowd) {
  const crowd = new AtlassianCrowd({ crowd: { base: opts.base }, application: { name: opts.app, password: opts.password } });

  // This library does not encode query values: keep names URL-safe.
  const username = `bob-${suffix}`;
  const email = `bob.${suffix}@example.com`;
  const pw1 = `Bob-pw-${suffix}`;
  const pw2 = `Bob-pw2-${suffix}`;
  const group = `npm-ops-${suffix}`;

  // call invokes a callback-style method and resolves to its result. The library throws some
  // errors from inside its response handlers instead of calling back: those reject the call too.
  const call = (fn, ...args) =>
    new Promise((resolve, reject) => {
      const done = (err, res) => {
        if (pendingCall === fail) pendingCall = null;
        if (err) reject(err);
        else resolve(res);
      };
      const fail = (e) => done(e);
      pendingCall = fail;
      fn(...args, done);
    });
  const s = (name, fn) => step(C, name, fn);

  await s('ping (config/cookie)', async () => {
    const cc = await call(crowd.ping.bind(crowd));
    assert.equal(cc.name, 'crowd.token_key');
    return cc;
  });

  await s('user.create', async () => {
    await call(crowd.user.create.bind(crowd.user), 'Bob', 'Npm', 'Bob Npm', email, username, pw1);
    return null;
  });

  await s('user.find', async () => {
    const u = await call(crowd.user.find.bind(crowd.user), username);
    assert.deepEqual(
      [u.name, u['first-name'], u['last-name'], u['display-name'], u.email, u.active],
      [username, 'Bob', 'Npm', 'Bob Npm', email, true],
    );
    return { name: u.name };
  });

  await s('user.find unknown is USER_NOT_FOUND', () => expectError(call(crowd.user.find.bind(crowd.user), `nobody-${suffix}`), 'USER_NOT_FOUND'));

  await s('user.active', async () => {
    assert.equal(await call(crowd.user.active.bind(crowd.user), username), true);
    return null;
  });

  await s('user.authenticate', async () => {
    const u = await call(crowd.user.authenticate.bind(crowd.user), username, pw1);
    assert.equal(u.name, username);
    return { name: u.name };
  });

  await s('user.authenticate wrong password is INVALID_USER_AUTHENTICATION', () =>
    expectError(call(crowd.user.authenticate.bind(crowd.user), username, 'wrong'), 'INVALID_USER_AUTHENTICATION'));

  await s('user.setAttributes / attributes', async () => {
    await call(crowd.user.setAttributes.bind(crowd.user), username, 'shell', ['/bin/sh', '/bin/zsh']);
    await call(crowd.user.setAttributes.bind(crowd.user), username, 'room', '42');
    const attrs = await call(crowd.user.attributes.bind(crowd.user), username);
    assert.deepEqual(
      Object.fromEntries(Object.entries(mine(attrs)).map(([k, v]) => [k, [...v].sort()])),
      { room: ['42'], shell: ['/bin/sh', '/bin/zsh'] },
    );
    return attrs;
  });

  await s('user.removeAttribute', async () => {
    await call(crowd.user.removeAttribute.bind(crowd.user), username, 'room');
    const attrs = await call(crowd.user.attributes.bind(crowd.user), username);
    assert.deepEqual(Object.keys(mine(attrs)), ['shell']);
    return attrs;
  });

  await s('groups.create', async () => {
    await call(crowd.groups.create.bind(crowd.groups), group, 'Ops via the old client');
    return null;
  });

  await s('groups.find / active', async () => {
    const g = await call(crowd.groups.find.bind(crowd.groups), group);
    assert.deepEqual([g.name, g.description, g.type, g.active], [group, 'Ops via the old client', 'GROUP', true]);
    assert.equal(await call(crowd.groups.active.bind(crowd.groups), group), true);
    return { name: g.name };
  });

  await s('groups.addmember', () =>
    tolerate(
      'membership-201-without-content-type',
      () => call(crowd.groups.addmember.bind(crowd.groups), username, group),
      (e) => e instanceof TypeError && /includes/.test(e.message),
      async () => {
        const names = await call(crowd.groups.directmembers.bind(crowd.groups), group);
        assert.deepEqual(names, [username]);
        return { members: names };
      },
    ));

  await s('user.groups (nested)', async () => {
    assert.deepEqual(await call(crowd.user.groups.bind(crowd.user), username), [group]);
    return null;
  });

  await s('groups.directmembers / nestedmembers', async () => {
    assert.deepEqual(await call(crowd.groups.directmembers.bind(crowd.groups), group), [username]);
    assert.deepEqual(await call(crowd.groups.nestedmembers.bind(crowd.groups), group), [username]);
    return null;
  });

  await s('search user by email', async () => {
    const res = await call(crowd.search.bind(crowd), 'user', `email="${email}"`);
    assert.deepEqual(res.users.map((u) => u.name), [username]);
    return res.users.map((u) => u.name);
  });

  await s('search group by name', async () => {
    const res = await call(crowd.search.bind(crowd), 'group', `name="${group}"`);
    assert.deepEqual(res.groups.map((g) => g.name), [group]);
    return res.groups.map((g) => g.name);
  });

  let token;
  await s('session.create', async () => {
    token = await call(crowd.session.create.bind(crowd.session), username, pw1);
    assert.match(token, /^[A-Za-z0-9_-]{16,}$/);
    return { token_length: token.length };
  });

  await s('session.create wrong password is INVALID_USER_AUTHENTICATION', () =>
    expectError(call(crowd.session.create.bind(crowd.session), username, 'wrong'), 'INVALID_USER_AUTHENTICATION'));

  await s('session.authenticate (validate)', async () => {
    const res = await call(crowd.session.authenticate.bind(crowd.session), token);
    assert.equal(res.token, token);
    assert.equal(res.user.name, username);
    return { user: res.user.name };
  });

  await s('session.find', async () => {
    const res = await call(crowd.session.find.bind(crowd.session), token);
    assert.equal(res.token, token);
    assert.equal(res.user.name, username);
    assert.equal(typeof res['expiry-date'], 'number');
    return { user: res.user.name };
  });

  await s('session.destroy', async () => {
    await call(crowd.session.destroy.bind(crowd.session), token);
    return null;
  });

  await s('session.authenticate after destroy is INVALID_SSO_TOKEN', () =>
    expectError(call(crowd.session.authenticate.bind(crowd.session), token), 'INVALID_SSO_TOKEN'));

  await s('user.changepassword', async () => {
    await call(crowd.user.changepassword.bind(crowd.user), username, pw2);
    const u = await call(crowd.user.authenticate.bind(crowd.user), username, pw2);
    assert.equal(u.name, username);
    await expectError(call(crowd.user.authenticate.bind(crowd.user), username, pw1), 'INVALID_USER_AUTHENTICATION');
    return null;
  });

  await s('groups.removemember', async () => {
    await call(crowd.groups.removemember.bind(crowd.groups), username, group);
    assert.deepEqual(await call(crowd.groups.directmembers.bind(crowd.groups), group), []);
    return null;
  });

  await s('groups.remove', async () => {
    await call(crowd.groups.remove.bind(crowd.groups), group);
    await expectError(call(crowd.groups.find.bind(crowd.groups), group), 'GROUP_NOT_FOUND');
    return null;
  });

  await s('user.remove', async () => {
    await call(crowd.user.remove.bind(crowd.user), username);
    await expectError(call(crowd.user.find.bind(crowd.user), username), 'USER_NOT_FOUND');
    return null;
  });
}

// ---------------------------------------------------------------------------------------------

// With CROWD_DEBUG_HTTP set, every exchange the libraries make is traced on stderr. This wraps
// node's http.request, which both libraries look up at call time; the libraries are untouched.
if (process.env.CROWD_DEBUG_HTTP) {
  const http = require('node:http');
  const request = http.request;
  http.request = function (opts, cb) {
    const what = `${opts.method} ${opts.path}`;
    const req = request.call(this, opts, (res) => {
      process.stderr.write(`http: ${what} -> ${res.statusCode} ${res.headers['content-type'] ?? '(no Content-Type)'}\n`);
      if (cb) cb(res);
    });
    return req;
  };
}

process.on('uncaughtException', (e) => {
  // atlassian-crowd-patched throws from inside its response handlers; attribute that to the step.
  if (pendingCall) {
    const fail = pendingCall;
    pendingCall = null;
    fail(e);
    return;
  }
  if (pendingReject) {
    pendingReject(e);
    return;
  }
  emit({ client: '*', step: 'uncaught exception', ok: false, detail: describe(e) });
  process.exit(1);
});

const opts = parseArgs(process.argv.slice(2));
const suffix = randomBytes(4).toString('hex');
const runners = { v2: runV2, patched: runPatched };
try {
  for (const c of opts.clients) await runners[c](opts, suffix);
  emit({ client: '*', step: 'done', ok: true, detail: { steps: stepCount, known_issues: [...knownSeen] } });
  process.exit(0);
} catch (e) {
  if (!(e instanceof Abort)) emit({ client: '*', step: 'runner', ok: false, detail: describe(e) });
  process.exit(1);
}
