import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRedactor, credentialKeyRule } from '../../server/audit/redact.js';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import { AUDIT_FILE_NAME } from '../../server/stores/embedded/file-audit-log.js';
import { ManualClock } from '../support/manual-clock.js';

describe('the audit redaction policy', () => {
  it('redacts credential-looking keys at any depth, keeps ids, and honours configured extra keys', () => {
    const redact = createRedactor(['tenantKey']);
    expect(
      redact({
        password: 'hunter2',
        nested: { access_token: 't', 'x-api-key': 'k', upstreamToken: 'u', headers: { Authorization: 'Bearer b', Cookie: 'c' } },
        list: [{ client_secret: 's' }],
        tokenId: 'keep-me',
        sessionId: 'keep-me-too',
        tenant_key: 'extra',
      }),
    ).toEqual({
      password: '[REDACTED]',
      nested: { access_token: '[REDACTED]', 'x-api-key': '[REDACTED]', upstreamToken: '[REDACTED]', headers: { Authorization: '[REDACTED]', Cookie: '[REDACTED]' } },
      list: [{ client_secret: '[REDACTED]' }],
      tokenId: 'keep-me',
      sessionId: 'keep-me-too',
      tenant_key: '[REDACTED]',
    });
  });

  it('redacts under a member named __proto__ without touching any prototype, and cuts what lies deeper than 8 levels', () => {
    const redact = createRedactor();
    const data = JSON.parse('{"__proto__":{"password":"hunter2","keep":1},"a":[[[[[[[[{"token":"deep"}]]]]]]]]}') as Record<string, unknown>;
    const redacted = redact(data) as Record<string, unknown>;
    expect(Object.getPrototypeOf(redacted)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(redacted, '__proto__')?.value).toEqual({ password: '[REDACTED]', keep: 1 });
    expect(JSON.stringify(redacted)).toBe('{"__proto__":{"password":"[REDACTED]","keep":1},"a":[[[[[[["[…]"]]]]]]]}');
    // The same key judged again (its verdict is remembered) is redacted alike.
    expect(redact({ Password: 'again', password: 'again' })).toEqual({ Password: '[REDACTED]', password: '[REDACTED]' });
  });

  it('judges alike once it has stopped remembering verdicts: past thousands of client-chosen keys, and keys too long to keep', () => {
    const redact = createRedactor();
    // More distinct keys than the redactor remembers, half of them naming a credential.
    const many = Object.fromEntries(Array.from({ length: 6_000 }, (_, i) => [i % 2 === 0 ? `field${i}` : `field${i}_token`, 'v']));
    const first = redact({ ...many }) as Record<string, string>;
    const again = redact({ ...many, late_password: 'p', late_name: 'n' }) as Record<string, string>;
    for (const redacted of [first, again]) {
      expect(Object.entries(redacted).filter(([key]) => key.startsWith('field') && key.endsWith('_token')).every(([, value]) => value === '[REDACTED]')).toBe(true);
      expect(Object.entries(redacted).filter(([key]) => key.startsWith('field') && !key.endsWith('_token')).every(([, value]) => value === 'v')).toBe(true);
    }
    expect(again).toMatchObject({ late_password: '[REDACTED]', late_name: 'n' });
    const long = `${'x'.repeat(200)}_apiKey`;
    for (let i = 0; i < 3; i++) expect(redact({ [long]: 'k', [`${'x'.repeat(200)}_id`]: 'i' })).toEqual({ [long]: '[REDACTED]', [`${'x'.repeat(200)}_id`]: 'i' });
  });

  it('is applied by the log itself: a token, a password, a header value and a PAT never reach the file', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-redact-'));
    const stores = await createEmbeddedStores({ dataDir, clock: new ManualClock(), redact: createRedactor() });
    const event = await stores.audit.append({
      type: 'mcp.request',
      outcome: 'SUCCESS',
      actor: 'a@example.com',
      data: { params: { arguments: { token: 'pcl_abc_secretsecret', password: 'hunter2-pw', headers: { Authorization: 'Bearer upstream-hdr-value' }, env: [{ GITHUB_PAT: 'ghp_pat-value', aws_secret_access_key: 'aws-sak-value' }], max_tokens: 256 } } },
    });
    await stores.close();
    const file = readFileSync(join(dataDir, AUDIT_FILE_NAME), 'utf8');
    for (const secret of ['pcl_abc_secretsecret', 'hunter2-pw', 'upstream-hdr-value', 'ghp_pat-value', 'aws-sak-value']) expect(file).not.toContain(secret);
    expect(event.data).toEqual({ params: { arguments: { token: '[REDACTED]', password: '[REDACTED]', headers: { Authorization: '[REDACTED]' }, env: [{ GITHUB_PAT: '[REDACTED]', aws_secret_access_key: '[REDACTED]' }], max_tokens: 256 } } });
  });
});

/** What a client's tools/call carries: each key with its value, at the top of the arguments, nested in an object and in arrays. */
function toolsCall(keys: readonly string[], value: (key: string) => unknown): Record<string, unknown> {
  const args = () => Object.fromEntries(keys.map((key) => [key, value(key)]));
  return { method: 'tools/call', params: { name: 'deploy', arguments: { ...args(), nested: { config: args() }, list: [args(), [args()]] } } };
}

describe('which keys name a credential', () => {
  // Each of these reached the log in clear while only a key's end was looked at.
  const missedBySuffix = ['secret_key', 'aws_secret_access_key', 'accessKey', 'tokens', 'apiKeys', 'passwords', 'client_secret_value', 'secretValue', 'passwordConfirmation', 'privateKeyPem', 'DB_PASS', 'GITHUB_PAT'];

  it('redacts a credential word anywhere in the key and in the plural, at any depth of a tools/call', () => {
    const redact = createRedactor();
    expect(redact(toolsCall(missedBySuffix, (key) => `value-of-${key}`))).toEqual(toolsCall(missedBySuffix, () => '[REDACTED]'));
  });

  it('finds the word however the key is spelt: snake_case, camelCase, kebab-case, dotted, UPPER_CASE, acronyms, no separators', () => {
    const isCredential = credentialKeyRule();
    for (const key of ['githubPat', 'GitHubPAT', 'PATToken', 'APIKey', 'x-api-key', 'smtp.pass', 'DB_PASS2', 'dbpassword', 'Proxy-Authorization', 'set-cookie', 'client.credentials', 'SSH_PRIVATE_KEY', 'signingKey', 'refresh_tokens', 'id_token', 'passPhrase', 'pwd', 'auth', 'connectionString']) {
      expect(isCredential(key), key).toBe(true);
    }
  });

  it('counts short words (pass, pat, pw, pin, auth) only as a whole word of the key: path, pattern, compatibility and passage are not credentials', () => {
    const isCredential = credentialKeyRule();
    for (const key of ['pass', 'DB_PASS', 'GITHUB_PAT', 'github-pats', 'db_pw', 'pin', 'basic_auth']) expect(isCredential(key), key).toBe(true);
    for (const key of ['path', 'file_path', 'pattern', 'globPattern', 'compatibility', 'passage', 'bypass', 'author', 'authority', 'spinner', 'key', 'publicKey']) expect(isCredential(key), key).toBe(false);
  });

  it('keeps keys whose last word describes a credential rather than holds it (id, type, name, policy, count, expiry), and still looks inside them', () => {
    const redact = createRedactor();
    const described = { tokenId: 't-1', token_type: 'Bearer', sessionId: 's-1', secret_name: 'prod/db', access_key_id: 'AKIAEXAMPLE', privateKeyPath: '/etc/key.pem', tokenExpiresAt: '2030-01-01T00:00:00Z', token_expires_at: 1, session_ttl: 60, accessTokenTtlSeconds: 600, passwordPolicy: { minLength: 12, password: 'example' } };
    expect(redact({ params: { arguments: described } })).toEqual({ params: { arguments: { ...described, passwordPolicy: { minLength: 12, password: '[REDACTED]' } } } });
    // A hint, a hash or a prefix can give the secret away: those stay redacted.
    expect(redact({ password_hint: 'h', password_hash: 'x', token_prefix: 'pcl_ab' })).toEqual({ password_hint: '[REDACTED]', password_hash: '[REDACTED]', token_prefix: '[REDACTED]' });
  });

  it('keeps LLM token counts readable (max_tokens, tokenCount), while tokens that may be credentials are redacted', () => {
    const counts = ['max_tokens', 'maxTokens', 'max_new_tokens', 'max_completion_tokens', 'maxOutputTokens', 'prompt_tokens', 'tokens_used', 'tokenCount', 'token_limit', 'tokenizer'];
    const redact = createRedactor();
    expect(redact(toolsCall(counts, () => 1024))).toEqual(toolsCall(counts, () => 1024));
    expect(redact({ tokens: ['a'], new_tokens: ['b'], cached_tokens: ['c'], max_tokens_secret: 'd' })).toEqual({ tokens: '[REDACTED]', new_tokens: '[REDACTED]', cached_tokens: '[REDACTED]', max_tokens_secret: '[REDACTED]' });
  });

  it('matches configured extra keys anywhere in the key, ids included: the operator named them', () => {
    const redact = createRedactor(['customer_id', 'tenantKey']);
    expect(redact({ customer_id: 'c', billingCustomerId: 'b', tenant_key_id: 't', customer: 'kept' })).toEqual({ customer_id: '[REDACTED]', billingCustomerId: '[REDACTED]', tenant_key_id: '[REDACTED]', customer: 'kept' });
  });
});

describe('which keys name a credential: short forms and look-alikes', () => {
  it('redacts priv as a word, OAuth verifiers, and pass or pw run together with what they protect', () => {
    const isCredential = credentialKeyRule();
    for (const key of ['privKey', 'priv_key', 'PRIV', 'code_verifier', 'codeVerifier', 'oauth_verifier', 'DBPASS', 'smtppass', 'rootpw']) expect(isCredential(key), key).toBe(true);
    for (const key of ['privileged', 'privacy', 'bypass', 'compass', 'surpass', 'code_challenge', 'code_challenge_method', 'verifier_name']) expect(isCredential(key), key).toBe(false);
  });

  it('reads a key as it looks: fullwidth, Cyrillic, Greek and small-capital look-alikes, accents and invisible characters', () => {
    const isCredential = credentialKeyRule();
    for (const key of ['ｐａｓｓｗｏｒｄ', 'pаssword', 'pаsswοrd', 'ᴘᴀssword', 'pässwörd', 'pass\u00adword', 'ＡＰＩ＿ＫＥＹ', 'аpi_kеy', 'tоkenId_secret']) expect(isCredential(key), key).toBe(true);
    // Read as it looks, a describing key still describes, and a plain word stays plain.
    for (const key of ['tоkenId', 'ｐａｓｓｗｏｒｄ_ｐｏｌｉｃｙ', 'раth', 'имя']) expect(isCredential(key), key).toBe(false);
    expect(createRedactor(['tenantKey'])({ 'ｔｅｎａｎｔ_ｋｅｙ': 'extra' })).toEqual({ 'ｔｅｎａｎｔ_ｋｅｙ': '[REDACTED]' });
  });
});

describe('values beside a name that names a credential', () => {
  it('redacts the value of a name/value pair (environment, headers, AWS Key/Value) and keeps pairs that name nothing secret', () => {
    const redact = createRedactor();
    const data = {
      env: [{ name: 'AWS_SECRET_ACCESS_KEY', value: 'wJalrXUtnFEMI' }, { name: 'REGION', value: 'eu-west-1' }, { name: 'token_type', value: 'Bearer' }],
      headers: [{ name: 'Authorization', value: 'Bearer eyJ-header-value' }, { header: 'Cookie', val: 'sid=1' }, { name: 'Accept', value: 'application/json' }],
      tags: [{ Key: 'DB_PASSWORD', Value: 'hunter2' }, { key: 'github_pat', data: { raw: 'ghp-x' }, values: ['a'] }],
    };
    expect(redact(data)).toEqual({
      env: [{ name: 'AWS_SECRET_ACCESS_KEY', value: '[REDACTED]' }, { name: 'REGION', value: 'eu-west-1' }, { name: 'token_type', value: 'Bearer' }],
      headers: [{ name: 'Authorization', value: '[REDACTED]' }, { header: 'Cookie', val: '[REDACTED]' }, { name: 'Accept', value: 'application/json' }],
      tags: [{ Key: 'DB_PASSWORD', Value: '[REDACTED]' }, { key: 'github_pat', data: '[REDACTED]', values: '[REDACTED]' }],
    });
  });
});

describe('secrets inside string values', () => {
  const redact = createRedactor();
  const inText = (text: string): unknown => (redact({ text }) as { text: unknown }).text;

  it('replaces only the secret: connection strings, URLs, commands, environment, flags', () => {
    const samples: [string, string][] = [
      ['postgres://admin:hunter2@db/prod', 'postgres://admin:[REDACTED]@db/prod'],
      ['redis://:p@ss@cache:6379/0', 'redis://:[REDACTED]@cache:6379/0'],
      ['https://user:pw@host/?access_token=abc&lang=en', 'https://user:[REDACTED]@host/?access_token=[REDACTED]&lang=en'],
      ["curl -H 'Authorization: Bearer ghp_short' https://api", "curl -H 'Authorization: Bearer [REDACTED]' https://api"],
      ['export AWS_SECRET_ACCESS_KEY=wJalr/K7MDENG && aws s3 ls', 'export AWS_SECRET_ACCESS_KEY=[REDACTED] && aws s3 ls'],
      ['PGPASSWORD="two words" psql --password hunter2 --user bob', 'PGPASSWORD="[REDACTED]" psql --password [REDACTED] --user bob'],
      ['Server=db;User Id=sa;Password=P@ss1;', 'Server=db;User Id=sa;Password=[REDACTED];'],
      ['curl -d \'{"password": "pw1", "user": "bob"}\'', 'curl -d \'{"password": "[REDACTED]", "user": "bob"}\''],
      ['url: https://h/x?token=t&ok=1', 'url: https://h/x?token=[REDACTED]&ok=1'],
    ];
    for (const [text, redacted] of samples) expect(inText(text), text).toBe(redacted);
  });

  it('replaces secrets known by their shape: PEM private keys whole, JWTs whole, prefixed tokens after their prefix, Bearer credentials', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl';
    const samples: [string, string][] = [
      ['key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAAK\n-----END RSA PRIVATE KEY-----\nnext', 'key:\n[REDACTED]\nnext'],
      ['-----BEGIN PRIVATE KEY-----\nMII', '[REDACTED]'],
      [`id_token ${jwt} issued`, 'id_token [REDACTED] issued'],
      ['ghp_0123456789abcdefghijABCDEFGHIJ0123 and github_pat_11ABCDEFG0123456789_abcdef', 'ghp_[REDACTED] and github_pat_[REDACTED]'],
      ['xoxb-1234-5678-abcdefghijkl glpat-abcdefghij0123456789', 'xoxb-[REDACTED] glpat-[REDACTED]'],
      ['AKIAIOSFODNN7EXAMPLE AIzaSyA-1234567890abcdefghijklmnopqrs', 'AKIA[REDACTED] AIza[REDACTED]'],
      ['sk-proj-abcdefghijklmnopqrstuv sk_live_abcdefghijklmnopqr', 'sk-[REDACTED] sk_live_[REDACTED]'],
      [`pcl_AbCdEfGh12345678_${'c2VjcmV0'.repeat(5)}abc pco_id-1-aBcDeFgHiJk_${'x'.repeat(43)}`, 'pcl_AbCdEfGh12345678_[REDACTED] pco_id-1-aBcDeFgHiJk_[REDACTED]'],
      // Words that look like a prefix or a scheme but are no token: kept.
      ['ASIA_PACIFIC_SOUTHEAST_1 pcs_order_quantity', 'ASIA_PACIFIC_SOUTHEAST_1 pcs_order_quantity'],
      ['Use Bearer authentication; the bearer receives it', 'Use Bearer authentication; the bearer receives it'],
      ['AKIAIOSFODNN7EXAMPLE', 'AKIA[REDACTED]'],
      ['sent Bearer abcdefgh12345678 upstream', 'sent Bearer [REDACTED] upstream'],
    ];
    for (const [text, redacted] of samples) expect(inText(text), text).toBe(redacted);
  });

  it('leaves ordinary text as it is', () => {
    for (const text of [
      'select id, name from users where created_at > now() - interval 1 day',
      'https://example.com:8443/docs/page?lang=en&page=2',
      'https://h/cb?state=xyz&token_type=bearer&max_tokens=5',
      '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----',
      'at 10:30, a=b, C:\\Users\\me, std::string, token == "abc"',
      'Note: the bearer of this letter, see path=/tmp and --verbose 2',
      'task-list-abcdefghijklmnopqrstuvwxyz and AKIAEXAMPLE',
      '[INFO] {name} started',
    ]) {
      expect(inText(text), text).toBe(text);
    }
  });

  it('stays linear on adversarial text: a quarter megabyte of near-misses takes well under a second', () => {
    const quarter = 256 * 1024;
    for (const unit of ['a=', 'eyJ', '://a:', '-----BEGIN ', '--', 'password="', 'Bearer ', 'ghp_']) {
      const started = performance.now();
      inText(unit.repeat(quarter / unit.length));
      expect(performance.now() - started, unit).toBeLessThan(1000);
    }
  });
});

describe('JSON sent as a string', () => {
  it('parses a string holding a JSON object or array, redacts it like any object, and writes it back', () => {
    const redact = createRedactor();
    expect(redact({ body: '{"password":"x","user":"bob"}', list: ' [{"name":"API_KEY","value":"k"}] ', text: 'not {json' })).toEqual({
      body: '{"password":"[REDACTED]","user":"bob"}',
      list: '[{"name":"API_KEY","value":"[REDACTED]"}]',
      text: 'not {json',
    });
    // Escapes cannot hide a key from the rule: the key is read after parsing.
    expect(redact({ body: '{"p\\u0061ssword":"x"}' })).toEqual({ body: '{"password":"[REDACTED]"}' });
  });

  it('keeps a JSON string with nothing to redact exactly as sent, and cuts what lies too deep even inside strings', () => {
    const redact = createRedactor();
    const pretty = JSON.stringify({ query: 'open bugs', limit: 20 }, null, 2);
    expect(redact({ body: pretty })).toEqual({ body: pretty });
    let nested: unknown = { password: 'deep-secret' };
    for (let i = 0; i < 12; i++) nested = JSON.stringify({ inner: nested });
    expect(JSON.stringify(redact({ nested }))).not.toContain('deep-secret');
  });
});

describe('the log redacts values', () => {
  it('never writes a secret held in a value: pairs, commands, URLs, PEM keys, JSON strings', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-redact-values-'));
    const stores = await createEmbeddedStores({ dataDir, clock: new ManualClock(), redact: createRedactor() });
    await stores.audit.append({
      type: 'mcp.request',
      outcome: 'SUCCESS',
      actor: 'a@example.com',
      data: {
        params: {
          name: 'deploy',
          arguments: {
            env: [{ name: 'DB_PASSWORD', value: 'pair-secret-value' }],
            command: "curl -H 'Authorization: Bearer cmd-secret-value' https://api",
            url: 'postgres://admin:url-secret-value@db/prod',
            pem: '-----BEGIN PRIVATE KEY-----\npem-secret-value\n-----END PRIVATE KEY-----',
            body: '{"password":"json-secret-value"}',
          },
        },
      },
      bounded: ['params'],
    });
    await stores.close();
    const file = readFileSync(join(dataDir, AUDIT_FILE_NAME), 'utf8');
    for (const secret of ['pair-secret-value', 'cmd-secret-value', 'url-secret-value', 'pem-secret-value', 'json-secret-value']) expect(file).not.toContain(secret);
    expect(file).toContain('postgres://admin:[REDACTED]@db/prod');
  });
});

describe('secrets the security review found passing through', () => {
  const redact = createRedactor();
  const inText = (text: string): unknown => (redact({ text }) as { text: unknown }).text;
  const expectRedacted = (samples: readonly (readonly [string, string])[]): void => {
    for (const [text, redacted] of samples) expect(inText(text), text).toBe(redacted);
  };

  it('reads an escaped quote as a quote: JSON inside a quoted shell argument or string literal', () => {
    expectRedacted([
      ['curl -d "{\\"password\\":\\"hunter2\\"}" https://h', 'curl -d "{\\"password\\":\\"[REDACTED]\\"}" https://h'],
      ['curl -d "{\\"user\\": \\"bob\\", \\"password\\": \\"two words\\"}"', 'curl -d "{\\"user\\": \\"bob\\", \\"password\\": \\"[REDACTED]\\"}"'],
      ["body = '{\\'api_key\\': \\'k-123\\'}'", "body = '{\\'api_key\\': \\'[REDACTED]\\'}'"],
      // An escaped quote inside the escaped value does not end it.
      ['-d "{\\"token\\":\\"a\\\\\\"b\\"}"', '-d "{\\"token\\":\\"[REDACTED]\\"}"'],
    ]);
  });

  it('redacts the member after a credential flag in an argument vector, and program-specific password flags', () => {
    const args = (list: string[]): unknown => (redact({ args: list }) as { args: unknown }).args;
    expect(args(['psql', '--password', 'hunter2', '--user', 'bob'])).toEqual(['psql', '--password', '[REDACTED]', '--user', 'bob']);
    expect(args(['--client-secret', 's3', '-token', 't'])).toEqual(['--client-secret', '[REDACTED]', '-token', '[REDACTED]']);
    expect(args(['sshpass', '-p', 'hunter2', 'ssh', 'host'])).toEqual(['sshpass', '-p', '[REDACTED]', 'ssh', 'host']);
    expect(args(['/usr/bin/curl', '-s', '-u', 'admin:hunter2', 'https://h'])).toEqual(['/usr/bin/curl', '-s', '-u', 'admin:[REDACTED]', 'https://h']);
    expect(args(['curl', '--user', 'admin:hunter2', '--proxy-user=p:pw2'])).toEqual(['curl', '--user', 'admin:[REDACTED]', '--proxy-user=p:[REDACTED]']);
    expect(args(['mysql', '-uroot', '-phunter2', 'shop'])).toEqual(['mysql', '-uroot', '-p[REDACTED]', 'shop']);
    expectRedacted([
      ['mysql -uroot -phunter2 shop', 'mysql -uroot -p[REDACTED] shop'],
      ["mysqldump -u root -p'hunter 2' shop", "mysqldump -u root -p'[REDACTED]' shop"],
      ['sshpass -p hunter2 ssh deploy@host', 'sshpass -p [REDACTED] ssh deploy@host'],
      ['sshpass -phunter2 ssh deploy@host', 'sshpass -p[REDACTED] ssh deploy@host'],
      ['curl -s -u admin:hunter2 https://h', 'curl -s -u admin:[REDACTED] https://h'],
      ["curl --user 'admin:two words' https://h", "curl --user 'admin:[REDACTED]' https://h"],
      ['curl --user=admin:hunter2 -U proxy:pw2 https://h', 'curl --user=admin:[REDACTED] -U proxy:[REDACTED] https://h'],
      ['subprocess.run(["mysql", "--password", "hunter2"])', 'subprocess.run(["mysql", "--password", "[REDACTED]"])'],
      // A command continued on the next line (as documentation writes them) is still curl's.
      ['curl -X POST https://h \\\n  -u admin:hunter2', 'curl -X POST https://h \\\n  -u admin:[REDACTED]'],
      ['curl -X POST https://h \\\r\n  --user admin:hunter2', 'curl -X POST https://h \\\r\n  --user admin:[REDACTED]'],
    ]);
  });

  it('keeps flags that take no password where they are: ports, users, directories, a database named after -p', () => {
    const args = ['docker', 'run', '-p', '8080:80', '-u', '1000:1000', 'nginx'];
    expect(redact({ args: [...args] })).toEqual({ args });
    expect(redact({ args: ['mysql', '-p', 'shop'] })).toEqual({ args: ['mysql', '-p', 'shop'] });
    // Only curl's -u and -U take a user and password: its other short flags keep their values.
    const curl = ['curl', '-s', 'https://api.example.com/v1/x', '-H', 'Accept: application/json', '-x', 'proxy:8080', '-d', 'a:b'];
    expect(redact({ args: [...curl] })).toEqual({ args: curl });
    for (const text of [
      'docker run -p 8080:80 -u 1000:1000 nginx',
      'docker run -p8080:80 --user postgres:postgres db',
      'mkdir -p /tmp/x && ssh -p 2222 host && curl -s https://h',
      'mysql -u root -p shop',
      'curl https://h; docker run -u app:app -p 80:80 img',
      'sort -u names.txt | mysql -p shop',
      'curl https://h\nsort -u a:b',
    ]) {
      expect(inText(text), text).toBe(text);
    }
  });

  it('redacts a Cookie or Set-Cookie header to the end of the line: every cookie in it', () => {
    expectRedacted([
      ['Cookie: _ga=1; sessionid=SECRET', 'Cookie: [REDACTED]'],
      ["curl -H 'Cookie: _ga=1; sessionid=SECRET' https://h", "curl -H 'Cookie: [REDACTED]' https://h"],
      ['Set-Cookie: sid=SECRET; Path=/; HttpOnly\r\nContent-Type: text/html', 'Set-Cookie: [REDACTED]\r\nContent-Type: text/html'],
    ]);
  });

  it('reads YAML: block scalars, a value on the next line, values aligned far from their key', () => {
    expectRedacted([
      ['db:\n  password: |\n    line-one\n    line-two\n  user: bob', 'db:\n  password: [REDACTED]\n  user: bob'],
      ['password: >-\n  folded\n\n  secret\nuser: bob', 'password: [REDACTED]\nuser: bob'],
      ['- password: |2\n    first\n  user: bob', '- password: [REDACTED]\n  user: bob'],
      ['password:\n  hunter2\nuser: bob', 'password:\n  [REDACTED]\nuser: bob'],
      ['api_keys:\n  - k-one\n  - k-two\nuser: bob', 'api_keys:\n  - [REDACTED]\n  - [REDACTED]\nuser: bob'],
      ['password:     hunter2\nuser:         bob', 'password:     [REDACTED]\nuser:         bob'],
      ['PASSWORD        = hunter2', 'PASSWORD        = [REDACTED]'],
    ]);
    // A mapping under a credential's key is judged key by key; code under an `if` is no value.
    for (const text of ['credentials:\n  user: bob\n  region: eu', 'if password:\n    login(user)', 'secret:\n\nnext: 1']) expect(inText(text), text).toBe(text);
  });

  it('redacts a value in brackets, and keeps templates and empty literals', () => {
    expectRedacted([
      ['PGPASSWORD={s3cr3t} psql', 'PGPASSWORD=[REDACTED] psql'],
      ['password: (s3cr3t)', 'password: [REDACTED]'],
      ['token=[abc]def&x=1', 'token=[REDACTED]&x=1'],
    ]);
    for (const text of ['password: {{ vault_password }}', 'token = []', 'secret: {user: bob}']) expect(inText(text), text).toBe(text);
  });

  it('redacts the signature of a presigned URL (S3, GCS, CloudFront, Azure SAS) and keeps the word in prose', () => {
    expectRedacted([
      ['https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20240101T000000Z&X-Amz-Signature=fe5f80f77d5fa3be&x=1', 'https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20240101T000000Z&X-Amz-Signature=[REDACTED]&x=1'],
      ['https://storage.googleapis.com/b/o?X-Goog-Signature=0a1b2c', 'https://storage.googleapis.com/b/o?X-Goog-Signature=[REDACTED]'],
      ['https://d.cloudfront.net/f?Expires=1&Signature=abc~def&Key-Pair-Id=K2', 'https://d.cloudfront.net/f?Expires=1&Signature=[REDACTED]&Key-Pair-Id=K2'],
      ['https://a.blob.core.windows.net/c/b?sv=2022-11-02&ss=b&sig=abc%2Bdef%3D&se=2030', 'https://a.blob.core.windows.net/c/b?sv=2022-11-02&ss=b&sig=[REDACTED]&se=2030'],
    ]);
    for (const text of ['Check the signature=valid flag; the sig=ok line and signature: RSA', 'def f(signature=None): pass']) expect(inText(text), text).toBe(text);
  });

  it('stays linear on adversarial text for the new rules', () => {
    const quarter = 256 * 1024;
    for (const unit of ['curl -u a:', 'mysql -p', ' -p', '\\"password\\":\\"', 'Cookie: a', 'password: |\n', 'password:\n ', '- password:\n  - ', 'password:' + ' '.repeat(70), 'token={', '&sig=', 'password=(']) {
      const started = performance.now();
      inText(unit.repeat(quarter / unit.length));
      expect(performance.now() - started, unit).toBeLessThan(1000);
    }
  });
});
