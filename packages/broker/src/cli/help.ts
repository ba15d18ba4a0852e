// brokerctl's help: every command with its usage and what it does, grouped as `rabbitmqctl help` groups them.
// brokerctl prints it client-side (`brokerctl --help`, `brokerctl help <command>`), so it needs no running node.
// test/cli/brokerctl.test.ts checks that every command the node answers (COMMANDS in commands.ts) is listed here.

export interface CommandHelp {
  usage: string;
  description: string;
  /** argument and option name -> meaning */
  args?: Record<string, string>;
}

export const SECTIONS: Record<string, Record<string, CommandHelp>> = {
  'Nodes': {
    status: { usage: 'status', description: 'Displays status of a node: its runtime, data directory, alarms, memory, listeners and totals' },
    ping: { usage: 'ping', description: 'Checks that the node OS process is up, registered with the node registry (epmd) and the CLI tool can authenticate with it' },
    await_startup: { usage: 'await_startup', description: 'Succeeds once the node is running its broker app, fails (exit 69) while it is not' },
    stop: { usage: 'stop', description: 'Stops the broker app and halts the node process' },
    stop_app: { usage: 'stop_app', description: 'Stops the broker app, leaving the node process (and its distribution port) running' },
    start_app: { usage: 'start_app', description: 'Starts the broker app on a node whose app was stopped' },
    reset: { usage: 'reset', description: 'Instructs a node (app stopped) to leave its cluster and return to its virgin state: every user, vhost, queue and message is deleted' },
    force_reset: { usage: 'force_reset', description: 'Forcefully returns a node (app stopped) to its virgin state, without telling the other cluster members' },
  },
  'Cluster': {
    cluster_status: { usage: 'cluster_status', description: 'Displays all the nodes in the cluster grouped by node type, together with the currently running nodes, their versions, alarms, network partitions and listeners' },
    join_cluster: {
      usage: 'join_cluster [--disc|--ram] <existing_cluster_member>',
      description: 'Instructs the node (app stopped) to become a member of the cluster that the specified node is in',
      args: { '<existing_cluster_member>': 'Existing cluster member (node) to join', '--disc': 'new node should be a disc one (default)', '--ram': 'new node should be a RAM one' },
    },
    change_cluster_node_type: { usage: 'change_cluster_node_type <disc|ram>', description: 'Changes the type of the cluster node (app stopped)', args: { '<disc|ram>': 'new node type' } },
    forget_cluster_node: {
      usage: 'forget_cluster_node [--offline] <existing_cluster_member>',
      description: 'Removes a node from the cluster; the removed node must be reset (brokerctl reset or force_reset) before it can start again',
      args: { '<existing_cluster_member>': 'node to remove', '--offline': 'run on a stopped disc node when the nodes that could commit the removal are gone' },
    },
    force_boot: { usage: 'force_boot', description: 'Forces the node (stopped, or its app stopped) to start next time on its own copy of the cluster metadata, even if it was not the last to shut down' },
    set_cluster_name: { usage: 'set_cluster_name <name>', description: 'Sets the cluster name' },
  },
  'Replication': {
    sync_queue: { usage: 'sync_queue [-p <vhost>] <queue>', description: 'Instructs a mirrored queue with unsynchronised mirrors (follower replicas) to synchronise them' },
    cancel_sync_queue: { usage: 'cancel_sync_queue [-p <vhost>] <queue>', description: 'Instructs a synchronising mirrored queue to stop synchronising itself' },
  },
  'Users': {
    add_user: { usage: 'add_user <username> <password>', description: 'Creates a new user in the internal database' },
    delete_user: { usage: 'delete_user <username>', description: 'Removes a user from the internal database' },
    change_password: { usage: 'change_password <username> <password>', description: "Changes the user's password" },
    clear_password: { usage: 'clear_password <username>', description: "Clears (resets) password and disables password login for a user" },
    authenticate_user: { usage: 'authenticate_user <username> <password>', description: 'Attempts to authenticate a user. Exits with a non-zero code if authentication fails' },
    set_user_tags: { usage: 'set_user_tags <username> <tag> [...]', description: 'Sets user tags (administrator, monitoring, management, policymaker)' },
    list_users: { usage: 'list_users', description: 'Lists users in the internal database' },
  },
  'Access Control': {
    set_permissions: { usage: 'set_permissions [-p <vhost>] <username> <conf> <write> <read>', description: 'Sets user permissions for a vhost (three regular expressions)' },
    clear_permissions: { usage: 'clear_permissions [-p <vhost>] <username>', description: 'Revokes user permissions for a vhost' },
    list_permissions: { usage: 'list_permissions [-p <vhost>]', description: 'Lists user permissions in a virtual host' },
    list_user_permissions: { usage: 'list_user_permissions <username>', description: 'Lists permissions of a user across all virtual hosts' },
  },
  'Virtual hosts': {
    add_vhost: { usage: 'add_vhost <vhost>', description: 'Creates a virtual host' },
    delete_vhost: { usage: 'delete_vhost <vhost>', description: 'Deletes a virtual host' },
    list_vhosts: { usage: 'list_vhosts [<column> ...]', description: 'Lists virtual hosts', args: { '<column>': 'name, tracing, cluster_state' } },
  },
  'Policies': {
    set_policy: {
      usage: 'set_policy [-p <vhost>] [--priority <priority>] [--apply-to <apply-to>] <name> <pattern> <definition>',
      description: 'Sets or updates a policy',
      args: {
        '<name>': 'policy name (identifier)',
        '<pattern>': 'regular expression pattern that will be used to match queues, exchanges, etc',
        '<definition>': 'policy definition (arguments). Must be a valid JSON document, e.g. \'{"ha-mode":"all","ha-sync-mode":"automatic"}\'. Without ha-sync-mode, new mirrors are not synchronised automatically (manual, as in RabbitMQ)',
        '--priority': 'policy priority',
        '--apply-to': 'policy should only apply to queues, exchanges, or all entities (both of the above)',
      },
    },
    clear_policy: { usage: 'clear_policy [-p <vhost>] <name>', description: 'Clears (removes) a policy' },
    list_policies: { usage: 'list_policies [-p <vhost>]', description: 'Lists all policies in a virtual host' },
  },
  'Monitoring, observability and health checks': {
    list_queues: {
      usage: 'list_queues [-p <vhost>] [<column> ...]',
      description: 'Lists queues and their properties',
      args: { '<column>': 'name, durable, auto_delete, exclusive, arguments, policy, pid, owner_pid, messages_ready, messages_unacknowledged, messages, message_bytes, message_bytes_ready, consumers, state, type, slave_pids, synchronised_slave_pids, mirror_pids, synchronised_mirror_pids, node (default: name messages)' },
    },
    list_exchanges: { usage: 'list_exchanges [-p <vhost>] [<column> ...]', description: 'Lists exchanges', args: { '<column>': 'name, type, durable, auto_delete, internal, arguments, policy (default: name type)' } },
    list_bindings: { usage: 'list_bindings [-p <vhost>] [<column> ...]', description: 'Lists all bindings on a vhost', args: { '<column>': 'source_name, source_kind, destination_name, destination_kind, routing_key, arguments' } },
    list_connections: {
      usage: 'list_connections [<column> ...]',
      description: 'Lists AMQP 0.9.1 connections of every running cluster node',
      args: { '<column>': 'name, user, peer_host, peer_port, state, channels, vhost, recv_oct, send_oct, recv_cnt, send_cnt, timeout, frame_max, client_properties, connected_at, pid, node (default: user peer_host peer_port state)' },
    },
    list_channels: {
      usage: 'list_channels [<column> ...]',
      description: 'Lists all channels of every running cluster node',
      args: { '<column>': 'pid, connection, name, number, user, vhost, transactional, confirm, consumer_count, messages_unacknowledged, prefetch_count, global_prefetch_count (default: pid user consumer_count messages_unacknowledged)' },
    },
    list_consumers: { usage: 'list_consumers [-p <vhost>] [<column> ...]', description: 'Lists all consumers for a vhost', args: { '<column>': 'queue_name, channel_pid, consumer_tag, ack_required, prefetch_count, active, activity_status, arguments' } },
  },
  'Memory and disc alarms': {
    set_vm_memory_high_watermark: { usage: 'set_vm_memory_high_watermark <fraction> | absolute <value>', description: 'Sets the memory high watermark (vm_memory_high_watermark) of the node until it restarts' },
    set_disk_free_limit: { usage: 'set_disk_free_limit <disk_limit> | mem_relative <fraction>', description: 'Sets the free disc space limit (disk_free_limit) of the node until it restarts' },
  },
  'Queues': {
    purge_queue: { usage: 'purge_queue [-p <vhost>] <queue>', description: 'Purges a queue (removes all messages in it)' },
    delete_queue: { usage: 'delete_queue [-p <vhost>] [--if-empty] [--if-unused] <queue>', description: 'Deletes a queue' },
  },
  'Connections': {
    close_connection: { usage: 'close_connection <connection pid> <explanation>', description: 'Instructs the broker to close the connection associated with the Erlang process id (list_connections pid)' },
    close_all_connections: { usage: 'close_all_connections <explanation>', description: 'Instructs the broker to close all connections of the node' },
  },
  'Help': {
    help: { usage: 'help [<command>]', description: 'Displays usage information for a command, or lists every command' },
  },
};

/** Every command brokerctl documents. */
export const HELP: Record<string, CommandHelp> = Object.assign({}, ...Object.values(SECTIONS)) as Record<string, CommandHelp>;

const GLOBAL_USAGE = 'brokerctl [-n <node>] [-t <timeout>] [-q] [-p <vhost>] [--formatter json] [--no-table-headers] [--dist-port <port>] [--cookie-file <file>] <command> [<command options>]';

const GLOBAL_OPTIONS = `General Options

-n, --node <node>          the node to contact (default rabbit@<this host>, or RABBITMQ_NODENAME)
-t, --timeout <seconds>    how long to wait for the command (default 60)
-q, --quiet                no informational messages ("Listing queues ...")
-s, --silent               like -q, and no table headers
-p, --vhost <vhost>        the virtual host (default /)
--formatter json           JSON output
--no-table-headers         no table headers
--dist-port <port>         the node's distribution port, when it is not registered on this host
--cookie-file <file>       the cookie (default ~/.erlang.cookie, or WARREN_COOKIE_FILE)`;

/** `brokerctl --help`: every command, by section. */
export function overview(): string {
  const lines = ['Usage', '', GLOBAL_USAGE, '', 'Available commands:', ''];
  for (const [section, cmds] of Object.entries(SECTIONS)) {
    lines.push(`${section}:`, '');
    const width = Math.max(...Object.keys(cmds).map((c) => c.length));
    for (const [name, h] of Object.entries(cmds)) lines.push(`   ${name.padEnd(width)}  ${h.description}`);
    lines.push('');
  }
  lines.push(GLOBAL_OPTIONS, '', 'Use "brokerctl help <command>" to learn more about a specific command.');
  return lines.join('\n');
}

/** `brokerctl help <command>`, or null for an unknown command. */
export function commandHelp(name: string): string | null {
  const h = HELP[name];
  if (h === undefined) return null;
  const lines = ['Usage', '', `brokerctl [--node <node>] [--timeout <timeout>] [--quiet] ${h.usage}`, '', h.description];
  if (h.args !== undefined) {
    lines.push('', 'Arguments and Options', '');
    for (const [a, d] of Object.entries(h.args)) lines.push(a, `\t${d}`);
  }
  return lines.join('\n');
}
