/**
 * A cluster's certificates for mutual TLS: a CA made for the cluster, and
 * for each replica a certificate naming its replica id (subject CN
 * `vsr-replica-<id>`, see peer-auth.ts) and the addresses it listens on, so
 * the same certificate serves peers, clients and HTTPS.
 *
 * Keys are made by Node's own crypto (RSA 2048); certificates are built and
 * signed with node-forge, a pure-JavaScript X.509 library, since Node can
 * check certificates but not issue them. The CA's private key is needed
 * only to issue certificates: keep it offline, or delete it once the
 * cluster's certificates exist.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import forge from 'node-forge';
import { replicaCommonName } from './peer-auth.js';

export interface IssuedCertificate {
  /** PEM. */
  readonly cert: string;
  /** PEM (PKCS#8). Secret. */
  readonly key: string;
}

export interface ClusterCertificates {
  readonly ca: IssuedCertificate;
  /** By replica id. */
  readonly replicas: readonly IssuedCertificate[];
}

export interface ClusterCertificateOptions {
  readonly replicaCount: number;
  /** Host names and IP addresses every replica's certificate names (default 127.0.0.1 and localhost). */
  readonly hosts?: readonly string[];
  /** How long the certificates are valid (default 825 days, the longest browsers accept). */
  readonly validDays?: number;
  /** When they start being valid (default now, less an hour for clock skew). */
  readonly now?: Date;
}

function rsaKeys(): { privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey; pem: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(pem);
  return { privateKey: forgeKey, publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e), pem };
}

function blankCertificate(publicKey: forge.pki.PublicKey, commonName: string, options: ClusterCertificateOptions): forge.pki.Certificate {
  const certificate = forge.pki.createCertificate();
  certificate.publicKey = publicKey;
  // A positive serial of 16 random bytes (the top bit clear).
  certificate.serialNumber = `01${randomBytes(15).toString('hex')}`;
  const notBefore = new Date((options.now ?? new Date()).getTime() - 3_600_000);
  certificate.validity.notBefore = notBefore;
  certificate.validity.notAfter = new Date(notBefore.getTime() + (options.validDays ?? 825) * 86_400_000);
  certificate.setSubject([{ name: 'commonName', value: commonName }]);
  return certificate;
}

/** Makes a new CA and a certificate for each replica of a cluster. */
export function createClusterCertificates(options: ClusterCertificateOptions): ClusterCertificates {
  if (!Number.isInteger(options.replicaCount) || options.replicaCount < 1 || options.replicaCount > 999) {
    throw new Error(`createClusterCertificates: replicaCount must be an integer in 1..999, got ${options.replicaCount}`);
  }
  const hosts = options.hosts ?? ['127.0.0.1', 'localhost'];
  const caKeys = rsaKeys();
  const ca = blankCertificate(caKeys.publicKey, `vsr-cluster-ca-${randomBytes(4).toString('hex')}`, options);
  ca.setIssuer(ca.subject.attributes);
  ca.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  ca.sign(caKeys.privateKey, forge.md.sha256.create());
  const altNames = hosts.map((host) => (isIP(host) === 0 ? { type: 2, value: host } : { type: 7, ip: host }));
  const replicas = Array.from({ length: options.replicaCount }, (_, replicaId) => {
    const keys = rsaKeys();
    const certificate = blankCertificate(keys.publicKey, replicaCommonName(replicaId), options);
    certificate.setIssuer(ca.subject.attributes);
    certificate.setExtensions([
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      // Each replica is a server (to peers, clients, HTTPS) and a client (to its peers).
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      { name: 'subjectAltName', altNames },
      { name: 'authorityKeyIdentifier', keyIdentifier: ca.generateSubjectKeyIdentifier().getBytes() },
    ]);
    certificate.sign(caKeys.privateKey, forge.md.sha256.create());
    return { cert: forge.pki.certificateToPem(certificate), key: keys.pem };
  });
  return { ca: { cert: forge.pki.certificateToPem(ca), key: caKeys.pem }, replicas };
}
