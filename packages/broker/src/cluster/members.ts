// Raft member ids of the cluster's metadata log: a disc node's member is its node name; a ram node's is
// `node#incarnation`, a new member at each start of its app (see cluster-service.ts's opening comment).

/** A ram node's Raft member id: its node name and the incarnation of its in-memory log. */
export const RAM_MEMBER_SEP = '#';

/** The node a Raft member id belongs to. */
export function memberNode(id: string): string {
  const i = id.indexOf(RAM_MEMBER_SEP);
  return i < 0 ? id : id.slice(0, i);
}

/** A ram node's in-memory member (not the plain-name learner that only lists a stopped ram node). */
export function isRamMember(id: string): boolean {
  return id.includes(RAM_MEMBER_SEP);
}
