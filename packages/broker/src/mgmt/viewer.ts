// Who asks for a listing and what of: the types the broker's ManagementAgent hook and the cluster's peer requests
// share with mgmt/listings.ts. A leaf, so server/broker.ts can name them without importing the management plugin.
export type ListingKind = 'connections' | 'channels' | 'consumers';

/** Who asks: a monitoring (or administrator) user sees every connection, any other user only its own. */
export interface Viewer {
  name: string;
  monitor: boolean;
}
