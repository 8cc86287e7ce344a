export { FileStorage, StoreIncompatible, journalBytes, checkpointBytes, openFileStore, type OpenOptions, type OpenReport } from './storage.js';
export type { ReplicaStore } from '@vsr/runtime';
export { startReplica, type ReplicaHandle, type ReplicaOptions, type ReplicaStatus, type Transport, type ClientRequestHandler } from './replica.js';
export { MemoryNetwork } from './memory-transport.js';
export {
  tcpTransport,
  TcpClientEndpoint,
  HANDSHAKE_FRAME_BYTES_MAX,
  PEER_FRAME_BYTES_MAX,
  CLIENT_FRAME_BYTES_MAX,
  type TcpTransport,
  type TcpTransportOptions,
  type TcpClientEndpointOptions,
  type PeerLinkStatus,
  type Address,
} from './tcp-transport.js';
export { encodeFrame, readFrames, readFrameBodies, parseFrameBody, frameOf, describeUntrusted } from './frames.js';
export {
  FrameMac,
  acceptProof,
  dialProof,
  replicaCommonName,
  replicaIdOfCertificate,
  type HandshakeFacts,
  type TlsCredentials,
} from './peer-auth.js';
export { Refusals, lineLogger, silentLogger, type Logger, type RefusalsOptions } from './logger.js';
export { VsrClient, ClusterLink, VsrTimeoutError, VsrRequestError, freshClientId, type ClientEndpoint, type ClusterLinkOptions, type VsrClientOptions } from './client.js';
export { createClusterCertificates, type ClusterCertificates, type ClusterCertificateOptions, type IssuedCertificate } from './pki.js';
export type { TimedTelemetry } from '@vsr/runtime';
export { createServer, startServer, VsrServer, ServerNotConfiguredError, type ServerOptions, type ServerStop, type ServerStatus, type ServerEvents, type StalePosition } from './server.js';
export { resolveCluster, ClusterSpecError, type ClusterSpec, type ClusterMember, type ResolvedCluster } from './cluster-spec.js';
export { SessionPool, SessionsBusyError } from './session-pool.js';
