package dev.braid.internal.tls;

import dev.braid.BraidException;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Builds an {@link SSLContext} from PEM files: a certificate chain, its private key and the trusted CAs.
 * Only the JDK: certificates through {@link CertificateFactory}; keys as PKCS#8, or PKCS#1 (RSA) and SEC1
 * (EC) wrapped into PKCS#8 here (OpenSSL's and GnuTLS's traditional formats, which libvirt's key files often
 * use). Encrypted keys are refused with a message saying how to decrypt them. Stateless; any thread.
 */
public final class PemFiles {
    private static final Pattern BLOCK = Pattern.compile(
            "-----BEGIN ([A-Z0-9 ]+)-----([A-Za-z0-9+/=\\s]*?)-----END \\1-----");
    /** rsaEncryption, 1.2.840.113549.1.1.1, with its NULL parameters. */
    private static final byte[] RSA_ALGORITHM = {0x30, 0x0d, 0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86,
            (byte) 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00};
    /** id-ecPublicKey, 1.2.840.10045.2.1. */
    private static final byte[] EC_PUBLIC_KEY_OID = {0x06, 0x07, 0x2a, (byte) 0x86, 0x48, (byte) 0xce, 0x3d, 0x02, 0x01};

    private PemFiles() {
    }

    /**
     * The context for {@code chain}/{@code key} (may both be null: no certificate) trusting {@code cas}
     * (null: the JDK's default trust store).
     *
     * @throws BraidException (category CONFIG) naming the file and the problem
     */
    public static SSLContext sslContext(final Path chain, final Path key, final Path cas) {
        requirePair(chain, key);
        try {
            KeyManagerFactory kmf = null;
            if (chain != null) {
                final List<X509Certificate> certs = certificates(chain);
                final PrivateKey pk = privateKey(key);
                final KeyStore ks = KeyStore.getInstance("PKCS12");
                ks.load(null, null);
                ks.setKeyEntry("braid", pk, new char[0], certs.toArray(Certificate[]::new));
                kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
                kmf.init(ks, new char[0]);
            }
            TrustManagerFactory tmf = null;
            if (cas != null) {
                final KeyStore ts = KeyStore.getInstance("PKCS12");
                ts.load(null, null);
                int i = 0;
                for (X509Certificate c : certificates(cas)) {
                    ts.setCertificateEntry("ca-" + i++, c);
                }
                tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
                tmf.init(ts);
            }
            final SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(kmf == null ? null : kmf.getKeyManagers(), tmf == null ? null : tmf.getTrustManagers(), null);
            return ctx;
        } catch (GeneralSecurityException | IOException e) {
            throw config("cannot build a TLS context from " + chain + ", " + key + ", " + cas + ": " + e, e);
        }
    }

    /**
     * Checks that a certificate chain and its key are given together (both null: no certificate).
     *
     * @throws BraidException (category CONFIG) naming both files when only one is given
     */
    public static void requirePair(final Path chain, final Path key) {
        if ((chain == null) != (key == null)) {
            throw config("a TLS certificate chain needs its private key and the other way round (chain " + chain
                    + ", key " + key + ")", null);
        }
    }

    /** Every certificate in the PEM file {@code file}, in order. */
    public static List<X509Certificate> certificates(final Path file) {
        final List<X509Certificate> out = new ArrayList<>();
        try {
            final CertificateFactory cf = CertificateFactory.getInstance("X.509");
            for (Block b : blocks(file)) {
                if (b.type.equals("CERTIFICATE") || b.type.equals("X509 CERTIFICATE")) {
                    out.add((X509Certificate) cf.generateCertificate(new ByteArrayInputStream(b.der)));
                }
            }
        } catch (GeneralSecurityException e) {
            throw config("TLS certificate file " + file + " holds a certificate that cannot be read: " + e, e);
        }
        if (out.isEmpty()) {
            throw config("TLS certificate file " + file + " holds no PEM certificate (-----BEGIN CERTIFICATE-----)", null);
        }
        return out;
    }

    /** The private key in the PEM file {@code file}. */
    public static PrivateKey privateKey(final Path file) {
        for (Block b : blocks(file)) {
            switch (b.type) {
                case "PRIVATE KEY":
                    return pkcs8(file, b.der);
                case "RSA PRIVATE KEY":
                    return pkcs8(file, sequence(integerZero(), RSA_ALGORITHM, octetString(b.der)));
                case "EC PRIVATE KEY":
                    return pkcs8(file, sequence(integerZero(), sequence(EC_PUBLIC_KEY_OID, sec1Curve(file, b.der)),
                            octetString(b.der)));
                case "ENCRYPTED PRIVATE KEY":
                    throw config("TLS private key " + file + " is encrypted; braid reads unencrypted keys only "
                            + "(decrypt it, e.g. openssl pkcs8 -in " + file + " -nocrypt -out key.pem, and protect "
                            + "the file with its permissions)", null);
                default:
                    // another block (parameters, certificates): look further
            }
        }
        throw config("TLS private key file " + file + " holds no PEM private key (-----BEGIN PRIVATE KEY-----, "
                + "RSA PRIVATE KEY or EC PRIVATE KEY)", null);
    }

    private static PrivateKey pkcs8(final Path file, final byte[] der) {
        final PKCS8EncodedKeySpec spec = new PKCS8EncodedKeySpec(der);
        for (String alg : new String[]{"RSA", "EC", "Ed25519", "Ed448", "RSASSA-PSS", "DSA"}) {
            try {
                return KeyFactory.getInstance(alg).generatePrivate(spec);
            } catch (GeneralSecurityException e) {
                // not this algorithm
            }
        }
        throw config("TLS private key " + file + " is not an RSA, EC, EdDSA or DSA key the JDK can read", null);
    }

    /** The curve OID (its whole TLV) from a SEC1 ECPrivateKey's [0] parameters. */
    private static byte[] sec1Curve(final Path file, final byte[] der) {
        // ECPrivateKey ::= SEQUENCE { version INTEGER, privateKey OCTET STRING, [0] ECParameters, [1] BIT STRING }
        int p = headerLength(der, 0);
        while (p < der.length) {
            final int tag = der[p] & 0xff;
            final int contentStart = p + headerLength(der, p);
            final int end = contentStart + contentLength(der, p);
            if (tag == 0xa0) {
                final byte[] oid = new byte[end - contentStart];
                System.arraycopy(der, contentStart, oid, 0, oid.length);
                return oid;
            }
            p = end;
        }
        throw config("TLS private key " + file + " (EC PRIVATE KEY) does not name its curve; convert it to PKCS#8 "
                + "(openssl pkcs8 -topk8 -nocrypt)", null);
    }

    private static int headerLength(final byte[] der, final int at) {
        final int first = der[at + 1] & 0xff;
        return first < 0x80 ? 2 : 2 + (first & 0x7f);
    }

    private static int contentLength(final byte[] der, final int at) {
        final int first = der[at + 1] & 0xff;
        if (first < 0x80) {
            return first;
        }
        int len = 0;
        for (int i = 0; i < (first & 0x7f); i++) {
            len = (len << 8) | (der[at + 2 + i] & 0xff);
        }
        return len;
    }

    private static byte[] integerZero() {
        return new byte[]{0x02, 0x01, 0x00};
    }

    private static byte[] octetString(final byte[] content) {
        return tlv(0x04, content);
    }

    private static byte[] sequence(final byte[]... parts) {
        final ByteArrayOutputStream b = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            b.writeBytes(p);
        }
        return tlv(0x30, b.toByteArray());
    }

    private static byte[] tlv(final int tag, final byte[] content) {
        final ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.write(tag);
        final int n = content.length;
        if (n < 0x80) {
            b.write(n);
        } else if (n < 0x100) {
            b.write(0x81);
            b.write(n);
        } else if (n < 0x10000) {
            b.write(0x82);
            b.write(n >> 8);
            b.write(n);
        } else {
            b.write(0x83);
            b.write(n >> 16);
            b.write(n >> 8);
            b.write(n);
        }
        b.writeBytes(content);
        return b.toByteArray();
    }

    private record Block(String type, byte[] der) {
    }

    private static List<Block> blocks(final Path file) {
        final String text;
        try {
            text = Files.readString(file, StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw config("cannot read TLS file " + file + ": " + e, e);
        }
        final List<Block> out = new ArrayList<>();
        final Matcher m = BLOCK.matcher(text);
        while (m.find()) {
            try {
                out.add(new Block(m.group(1), Base64.getMimeDecoder().decode(m.group(2))));
            } catch (IllegalArgumentException e) {
                throw config("TLS file " + file + " has a " + m.group(1) + " block that is not valid base64", e);
            }
        }
        if (out.isEmpty()) {
            throw config("TLS file " + file + " holds no PEM block (-----BEGIN ...-----)", null);
        }
        return out;
    }

    private static BraidException config(final String message, final Throwable cause) {
        return new BraidException(BraidException.Category.CONFIG, message, cause);
    }
}
