/**
 * Private-use URI schemes (RFC 8252 §7.1) that may carry an authorization code back to a
 * native app. The OS hands such a URI to whichever program claims the scheme; when that
 * program is a browser, or another program that fetches a URL (a feed or calendar reader,
 * an Office app, a media player), the code ends up at a server the client chose, and
 * that is the web callback the broker refuses by default.
 */

/**
 * VS Code and the editors built on it hand `<scheme>://<publisher>.<extension>/…` to that
 * extension: Cursor's own MCP client registers `cursor://anysphere.cursor-mcp/oauth/callback`
 * (older ones `cursor://anysphere.cursor-retrieval/…`), and MCP extensions such as Cline
 * register `<editor>://saoudrizwan.claude-dev/mcp-auth/callback/<hash>` in each editor
 * (VSCodium, Code - OSS, Kiro and Trae among them). Warp's desktop app registers
 * `warp://mcp/oauth2callback`. Any other goes in `oauth.redirectSchemes`.
 */
export const KNOWN_CLIENT_SCHEMES: readonly string[] = ['cursor', 'vscode', 'vscode-insiders', 'vscodium', 'code-oss', 'windsurf', 'kiro', 'trae', 'warp'];

/** Browsers, Microsoft's Windows and Office handlers, app stores, calls. */
const LAUNCHER_PREFIXES = ['ms-', 'microsoft-edge', 'x-safari-', 'googlechrome', 'firefox', 'opera', 'brave', 'chrome', 'touch-http', 'itms', 'facetime', 'yandexbrowser', 'samsunginternet'];

/**
 * Schemes a browser runs, shows or fetches itself (javascript:, view-source:, ftp:, ws:),
 * or hands to a program that opens the URL or the host they name (webcal: and feed: are
 * fetched over http, intent: and android-app: open an app with an https URL, jnlp: and
 * steam: fetch what follows, search-ms:, shell: and hcp: are Windows launchers).
 */
const LAUNCHER_SCHEMES = new Set([
  ...['http', 'https', 'javascript', 'data', 'vbscript', 'file', 'blob', 'filesystem', 'about', 'view-source', 'jar', 'resource', 'mhtml', 'mk', 'res', 'its'],
  ...['ftp', 'ftps', 'sftp', 'ws', 'wss', 'gopher', 'ssh', 'telnet', 'git', 'svn', 'smb', 'nfs', 'afp', 'ldap', 'ldaps', 'ipfs', 'ipns', 'dweb', 'magnet'],
  ...['news', 'nntp', 'snews', 'webcal', 'webcals', 'feed', 'feeds', 'podcast', 'pcast', 'itpc', 'rtsp', 'rtmp', 'mms'],
  ...['mailto', 'tel', 'sms', 'smsto', 'callto', 'sip', 'sips', 'skype'],
  ...['intent', 'android-app', 'market', 'jnlp', 'jnlps', 'steam', 'search', 'search-ms', 'shell', 'hcp', 'read'],
  ...['edge', 'vivaldi', 'moz-extension', 'safari-extension', 'x-web-search', 'ddgquicklink', 'ohttp', 'ohttps', 'ucbrowser', 'duckduckgo'],
]);

/**
 * Whether a scheme (lower case, no colon) hands its URI to a browser or a program that
 * opens what it names, and so can never carry a code back to an app. A `+` composes a
 * scheme over a transport (web+…, ext+… that browsers turn into https URLs, git+https).
 */
export function isLauncherScheme(scheme: string): boolean {
  return scheme.includes('+') || LAUNCHER_SCHEMES.has(scheme) || LAUNCHER_PREFIXES.some((prefix) => scheme.startsWith(prefix));
}

/** RFC 8252 §7.1: a reverse domain name under the app's control, such as `com.example.app`. */
export function isReverseDomainScheme(scheme: string): boolean {
  return /^[a-z][a-z0-9-]*(?:\.[a-z0-9-]+)+$/.test(scheme);
}
