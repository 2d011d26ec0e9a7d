package dev.braid;

import java.security.Principal;
import java.security.cert.X509Certificate;
import java.util.List;

/**
 * Who the other side of a TLS connection proved to be, and how the connection is protected: what
 * {@link Peer#tls()} returns once the handshake is done. Immutable.
 *
 * @param protocol           the negotiated protocol, {@code TLSv1.3} or {@code TLSv1.2}
 * @param cipherSuite        the negotiated cipher suite, for example {@code TLS_AES_128_GCM_SHA256}
 * @param peerCertificates   the certificate chain the peer presented, its own certificate first; empty when
 *                           it presented none (a client without a certificate where client certificates are
 *                           optional or not asked for)
 * @param peerPrincipal      the subject of the peer's certificate, or null when it presented none
 * @param localCertificates  the chain this side presented, empty if none
 */
public record TlsIdentity(String protocol, String cipherSuite, List<X509Certificate> peerCertificates,
                          Principal peerPrincipal, List<X509Certificate> localCertificates) {
    /**
     * Copies the lists.
     *
     * @param protocol          the negotiated protocol
     * @param cipherSuite       the negotiated cipher suite
     * @param peerCertificates  the peer's chain (may be empty)
     * @param peerPrincipal     the peer's subject, or null
     * @param localCertificates this side's chain (may be empty)
     */
    public TlsIdentity {
        peerCertificates = List.copyOf(peerCertificates);
        localCertificates = List.copyOf(localCertificates);
    }

    @Override
    public String toString() {
        return protocol + " " + cipherSuite + (peerPrincipal == null ? ", peer without certificate"
                : ", peer " + peerPrincipal.getName());
    }
}
