// Pids as rabbitmqctl list_queues prints them (RabbitMQ 3.10: `<rabbit@node1.1796683329.1017.0>`, node, creation,
// id, serial), for tests that check which node a pid is on.

/** One pid, RabbitMQ's form, on the given node. */
export function pidPattern(node: string): RegExp {
  return new RegExp(`^<${node.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.\\d+\\.\\d+\\.0>$`);
}

/** The pids in a list_queues cell (`<a.1.2.0>` or `[<a.1.2.0>, <b.3.4.0>]`). */
export function pidsIn(cell: string): string[] {
  return cell.match(/<[^<>]+>/g) ?? [];
}

/** A cell with each pid replaced by its node (`[<rabbit@a>, <rabbit@b>]`): which nodes, whatever the numbers. */
export function pidNodes(cell: string): string {
  return cell.replace(/<([^<>]+)\.\d+\.\d+\.\d+>/g, '<$1>');
}
