export { FileStorage, journalBytes, type OpenOptions, type OpenReport } from './storage.js';
export { startReplica, RequestTimeout, type ReplicaHandle, type ReplicaOptions, type ReplicaStatus, type Transport, type ClientRequestHandler } from './replica.js';
export { MemoryNetwork } from './memory-transport.js';
export { tcpTransport, encodeFrame, readFrames, type TcpTransport, type TcpTransportOptions, type Address } from './tcp-transport.js';
export { VsrClient, ClusterLink, VsrTimeoutError, VsrRequestError, freshClientId, type ClientEndpoint, type ClusterLinkOptions, type VsrClientOptions } from './client.js';
