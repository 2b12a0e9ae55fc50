/**
 * The simulated organisation's MCP servers and roles: what the workload's people may use.
 * Tool names follow what real servers of each kind expose; a tool's argument kind decides
 * what its calls carry, and its result kind how much the upstream answers.
 */

/** What a call of the tool carries: a search, an object id, a path, or a body of text. */
export type ArgumentKind = 'query' | 'id' | 'path' | 'text';

/** `small`: a few hundred bytes to a few KB; `rows`: `limit` rows of about 256 bytes (an export: always large). */
export type ResultKind = 'small' | 'rows';

export interface ToolSpec {
  name: string;
  argument: ArgumentKind;
  result: ResultKind;
}

const t = (name: string, argument: ArgumentKind, result: ResultKind = 'small'): ToolSpec => ({ name, argument, result });

export const SERVERS: Record<string, readonly ToolSpec[]> = {
  github: [t('search_code', 'query'), t('get_file', 'path'), t('list_issues', 'query'), t('get_issue', 'id'), t('create_issue', 'text'), t('comment_issue', 'text'), t('list_pull_requests', 'query'), t('get_pull_request', 'id'), t('create_pull_request', 'text'), t('list_commits', 'query'), t('export_org_members', 'query', 'rows'), t('admin_delete_repo', 'id')],
  jira: [t('search_issues', 'query'), t('get_issue', 'id'), t('create_issue', 'text'), t('update_issue', 'text'), t('transition_issue', 'id'), t('add_comment', 'text'), t('list_sprints', 'query'), t('export_all_issues', 'query', 'rows'), t('admin_delete_project', 'id')],
  docs: [t('search', 'query'), t('get_page', 'id'), t('list_spaces', 'query'), t('create_page', 'text'), t('update_page', 'text'), t('export_space', 'id', 'rows')],
  db: [t('run_query', 'query'), t('describe_table', 'id'), t('list_tables', 'query'), t('explain_query', 'query'), t('export_table', 'id', 'rows'), t('admin_drop_table', 'id')],
  files: [t('read_file', 'path'), t('list_directory', 'path'), t('search_files', 'query'), t('write_file', 'text'), t('get_file_info', 'path'), t('download_archive', 'path', 'rows')],
  slack: [t('search_messages', 'query'), t('post_message', 'text'), t('list_channels', 'query'), t('get_thread', 'id'), t('export_channel', 'id', 'rows')],
  metrics: [t('query_metrics', 'query'), t('list_dashboards', 'query'), t('get_dashboard', 'id'), t('get_alerts', 'query'), t('silence_alert', 'id')],
  pager: [t('list_incidents', 'query'), t('get_incident', 'id'), t('ack_incident', 'id'), t('resolve_incident', 'text'), t('page_user', 'text')],
};

export const SERVER_NAMES = Object.keys(SERVERS);

/** Nobody's grant covers these (every role's rule denies `admin_*`): calling one is refused as tool_not_granted. */
export const DENIED_TOOLS = 'admin_*';

export const isDenied = (tool: string) => tool.startsWith('admin_');

/** Tools a role's people never use in their daily work (granted, but nobody in the role has called them before). */
export const isRareTool = (tool: ToolSpec) => tool.result === 'rows' || isDenied(tool.name);

export interface RoleSpec {
  name: string;
  group: string;
  servers: readonly string[];
}

export const ROLES: readonly RoleSpec[] = [
  { name: 'engineer', group: 'engineering', servers: ['github', 'jira', 'docs', 'files', 'metrics'] },
  { name: 'sre', group: 'sre', servers: ['github', 'metrics', 'pager', 'db', 'files', 'slack'] },
  { name: 'analyst', group: 'data', servers: ['db', 'docs', 'jira', 'slack'] },
  { name: 'support', group: 'support', servers: ['jira', 'docs', 'slack', 'pager'] },
];

export function toolSpec(server: string, tool: string): ToolSpec {
  const spec = SERVERS[server]?.find((s) => s.name === tool);
  if (!spec) throw new Error(`no tool ${server}/${tool} in the catalog`);
  return spec;
}
