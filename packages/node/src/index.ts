export { FileStorage, journalBytes, type OpenOptions, type OpenReport } from './storage.js';
export { startReplica, RequestTimeout, type ReplicaHandle, type ReplicaOptions, type ReplicaStatus, type Transport } from './replica.js';
export { MemoryNetwork } from './memory-transport.js';
export { tcpTransport, encodeFrame, type TcpTransport, type TcpTransportOptions, type Address } from './tcp-transport.js';
