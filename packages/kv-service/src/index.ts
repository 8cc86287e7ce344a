/**
 * @vsr/kv-service: the replicated key-value service, `vsr-kv`.
 * One replica process: `serve`; a local cluster of child processes: `startCluster`.
 */
export { serve, type ServeOptions, type RunningService } from './serve.js';
export { kvHttpServer, Unavailable, type KvHttpOptions } from './http.js';
export { serviceMetrics, type ServiceMetrics } from './metrics.js';
export { startCluster, stopCluster, restartReplica, prepareClusterDirectory, nodeArgs, CLI_PATH, type ClusterOptions, type ReplicaProcess } from './cluster.js';
export { main, parseAddress, UsageError } from './cli.js';
export { HttpHistory, resultOf } from './history.js';
export { KvHttpClient, clusterSecurity, type KvSecurity, type KvHttpAnswer } from './http-client.js';
export { ensureClusterCertificates, readTlsDirectory } from './cluster-directory.js';
