package dev.braid.tooling;

import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Date;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A throwaway certificate authority made at run time, for tests and {@code braid demo --tls}: a CA and
 * the certificates it issues, written as PEM files (certificate chain, PKCS#8 key, CA) in a directory, the
 * way an operator's files look. EC P-256 keys; nothing is ever committed. Keys are written readable by the
 * owner only. Not thread-safe: one thread issues.
 */
public final class ThrowawayPki {
    private static final AtomicLong SERIAL = new AtomicLong(System.currentTimeMillis());

    /** A certificate chain file (the certificate, then its CA) and its private key file. */
    public record Identity(Path certificate, Path key) {
    }

    private final Path dir;
    private final String name;
    private final KeyPair caKeys;
    private final X509Certificate ca;
    private final Path caPem;

    private ThrowawayPki(final Path dir, final String name, final KeyPair caKeys, final X509Certificate ca,
                         final Path caPem) {
        this.dir = dir;
        this.name = name;
        this.caKeys = caKeys;
        this.ca = ca;
        this.caPem = caPem;
    }

    /**
     * A new CA named {@code name}, its certificate written to {@code dir/name-ca.pem}.
     *
     * @param dir  where the files go (created if missing)
     * @param name the CA's name (also the files' prefix)
     * @return the CA
     */
    public static ThrowawayPki create(final Path dir, final String name) {
        try {
            Files.createDirectories(dir);
            final KeyPair keys = newKeys();
            final X500Name subject = new X500Name("CN=" + name + " throwaway CA,O=braid");
            final Instant now = Instant.now();
            final JcaX509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(subject, serial(),
                    Date.from(now.minus(Duration.ofHours(1))), Date.from(now.plus(Duration.ofDays(2))), subject,
                    keys.getPublic());
            b.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
            b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
            final X509Certificate ca = sign(b, keys);
            final Path pem = dir.resolve(name + "-ca.pem");
            Files.writeString(pem, pem("CERTIFICATE", ca.getEncoded()));
            return new ThrowawayPki(dir, name, keys, ca, pem);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot make a throwaway CA: " + e, e);
        }
    }

    /** {@return the CA's certificate file (what a peer trusts)} */
    public Path caCertificate() {
        return caPem;
    }

    /**
     * A certificate for {@code subjectName}, valid now for a day, usable by a server and a client, naming
     * {@code dnsNames} and {@code ipAddresses}.
     *
     * @param subjectName  the common name, also the files' prefix
     * @param dnsNames     DNS subject alternative names
     * @param ipAddresses  IP subject alternative names
     * @return the files
     */
    public Identity issue(final String subjectName, final List<String> dnsNames, final List<String> ipAddresses) {
        final Instant now = Instant.now();
        return issue(subjectName, dnsNames, ipAddresses, now.minus(Duration.ofHours(1)), now.plus(Duration.ofDays(1)));
    }

    /**
     * A certificate whose validity ended yesterday (for tests of the expired case).
     *
     * @param subjectName  the common name, also the files' prefix
     * @param dnsNames     DNS subject alternative names
     * @param ipAddresses  IP subject alternative names
     * @return the files
     */
    public Identity issueExpired(final String subjectName, final List<String> dnsNames, final List<String> ipAddresses) {
        final Instant now = Instant.now();
        return issue(subjectName, dnsNames, ipAddresses, now.minus(Duration.ofDays(3)), now.minus(Duration.ofDays(1)));
    }

    private Identity issue(final String subjectName, final List<String> dnsNames, final List<String> ipAddresses,
                           final Instant notBefore, final Instant notAfter) {
        try {
            final KeyPair keys = newKeys();
            final JcaX509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(ca, serial(), Date.from(notBefore),
                    Date.from(notAfter), new X500Name("CN=" + subjectName + ",O=braid"), keys.getPublic());
            final List<GeneralName> names = new ArrayList<>();
            dnsNames.forEach(n -> names.add(new GeneralName(GeneralName.dNSName, n)));
            ipAddresses.forEach(n -> names.add(new GeneralName(GeneralName.iPAddress, n)));
            if (!names.isEmpty()) {
                b.addExtension(Extension.subjectAlternativeName, false,
                        new GeneralNames(names.toArray(GeneralName[]::new)));
            }
            b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
            b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyAgreement));
            b.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(
                    new KeyPurposeId[]{KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth}));
            final X509Certificate cert = sign(b, caKeys);
            final String prefix = name + "-" + subjectName.replaceAll("[^A-Za-z0-9.-]", "_");
            final Path certFile = dir.resolve(prefix + "-cert.pem");
            final Path keyFile = dir.resolve(prefix + "-key.pem");
            Files.writeString(certFile, pem("CERTIFICATE", cert.getEncoded()) + pem("CERTIFICATE", ca.getEncoded()));
            Files.deleteIfExists(keyFile);
            Files.createFile(keyFile);
            try {
                Files.setPosixFilePermissions(keyFile, PosixFilePermissions.fromString("rw-------"));
            } catch (UnsupportedOperationException e) {
                // not a POSIX file system: the directory's protection applies
            }
            Files.writeString(keyFile, pem("PRIVATE KEY", keys.getPrivate().getEncoded()));
            return new Identity(certFile, keyFile);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot issue a throwaway certificate: " + e, e);
        }
    }

    private static KeyPair newKeys() throws GeneralSecurityException {
        final KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"));
        return g.generateKeyPair();
    }

    private static BigInteger serial() {
        return BigInteger.valueOf(SERIAL.incrementAndGet());
    }

    private static X509Certificate sign(final JcaX509v3CertificateBuilder b, final KeyPair signer)
            throws GeneralSecurityException {
        try {
            final ContentSigner s = new JcaContentSignerBuilder("SHA256withECDSA").build(signer.getPrivate());
            final X509CertificateHolder h = b.build(s);
            return new JcaX509CertificateConverter().getCertificate(h);
        } catch (org.bouncycastle.operator.OperatorCreationException e) {
            throw new GeneralSecurityException(e);
        }
    }

    private static String pem(final String type, final byte[] der) {
        return "-----BEGIN " + type + "-----\n"
                + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(der)
                + "\n-----END " + type + "-----\n";
    }
}
